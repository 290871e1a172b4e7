/**
 * A session's place in the worker pool: the worker that holds its model state, and moving it
 * when that worker goes away. When the link to the session's worker drops (the worker was
 * killed, crashed or cut off), the session is placed on another worker of the pool and opened
 * there from the store's context (compaction + conversation since), without the client
 * reconnecting: micro-turns that close while it moves are not sent (the client hears a gap,
 * never an error), and their inputs stay in the event log and acknowledged as before. A
 * rebuilt context (after a move, or a compaction) gets the session's recent micro-turns
 * replayed after its text, so what the user said, not only what was typed, is still there.
 * With one configured worker there is nowhere to go: the session ends with
 * `worker_unavailable`.
 *
 * @module
 */
import type { LinkSessionHandlers, OutputAudio, WorkerLinkClient } from "./worker_link_client.ts";
import { NoWorkerCapacityError, openOnWorker, type WorkerLinks } from "./worker_links.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";
import type { Logger } from "../lib/logger.ts";
import { RecentInputs } from "./recent_inputs.ts";

/** How long a moving session waits for a worker with room before it gives up, ms. */
const MOVE_PATIENCE_MS = 10_000;

/** What a {@linkcode SessionWorker} needs. */
export interface SessionWorkerOptions {
  /** Session id. */
  sessionId: string;
  /** When the session was created (the model's time origin). */
  startedAtMs: number;
  /** The output audio the session asks its worker for. */
  audio: OutputAudio;
  /** The pool (or the one worker). */
  workers: WorkerLinks;
  /** What the session hears from its worker (its link dropping is handled here). */
  handlers: Omit<LinkSessionHandlers, "onLinkLost">;
  /** The session's context from the store now, to open it on another worker. */
  rebuildContext: () => Promise<string>;
  /** The worker went away: what was in flight there is lost. */
  onMoving(): void;
  /**
   * The session runs on another worker now, after `gapMs` without one, its context rebuilt
   * with `replayedMicroTurns` recent micro-turns.
   */
  onMoved(move: { from: string; to: string; gapMs: number; replayedMicroTurns: number }): void;
  /** No worker could take the session. */
  onLost(error: Error): void;
  /** Where moves are logged. */
  log: Logger;
}

/** The worker holding one session. */
export class SessionWorker {
  readonly #o: SessionWorkerOptions;
  #link: WorkerLinkClient | undefined;
  readonly #recent = new RecentInputs();
  #moving: Promise<void> | undefined;
  #closed = false;

  /** @param options the session, the pool and what to tell the session */
  constructor(options: SessionWorkerOptions) {
    this.#o = options;
  }

  /** True while the session is being moved to another worker. */
  get moving(): boolean {
    return this.#moving !== undefined;
  }

  /**
   * Places the session and opens it with `context`. Throws `NoWorkerCapacityError` when no
   * worker has room, or the worker's refusal.
   */
  async open(context: string): Promise<void> {
    this.#link = await this.#openOnPool(context, new Set());
  }

  /**
   * Sends a closed micro-turn and keeps its input for a rebuild; false when it was not sent
   * (the session is moving, or has no live worker link).
   */
  send(turn: MicroTurn): boolean {
    this.#recent.push(turn);
    if (this.#moving) return false;
    return this.#link?.send(turn) ?? false;
  }

  /**
   * Asks the worker to rebuild the session's context from `context` and the recent
   * micro-turns; false when the link is down.
   */
  rebuild(context: string): boolean {
    return this.#link?.rebuild(this.#o.sessionId, context, this.#recent.turns()) ?? false;
  }

  /** Closes the session on its worker. */
  close(): void {
    this.#closed = true;
    this.#link?.close(this.#o.sessionId);
  }

  #openOnPool(context: string, excluded: Set<WorkerLinkClient>): Promise<WorkerLinkClient> {
    const { sessionId, startedAtMs, audio, handlers } = this.#o;
    return openOnWorker(
      this.#o.workers,
      (link) =>
        link.open(
          sessionId,
          { startedAtMs, audio },
          { ...handlers, onLinkLost: () => this.#lost(link) },
          context,
          () => this.#recent.turns(),
        ),
      excluded,
    );
  }

  /**
   * Opens the moving session on the pool; while no worker has room (the pool just lost one, a
   * survivor's heartbeat came late, capacity is being added), tries again as the refusal's
   * retry-after says, for up to {@linkcode MOVE_PATIENCE_MS}: the client hears a longer gap
   * rather than an error.
   */
  async #openPatiently(
    context: string,
    excluded: Set<WorkerLinkClient>,
    started: number,
  ): Promise<WorkerLinkClient> {
    for (;;) {
      try {
        return await this.#openOnPool(context, excluded);
      } catch (error) {
        const waitMs = error instanceof NoWorkerCapacityError
          ? Math.min(error.retryAfterSeconds * 1000, 1000)
          : Infinity;
        if (this.#closed || performance.now() + waitMs - started > MOVE_PATIENCE_MS) throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  #lost(link: WorkerLinkClient): void {
    if (this.#closed || link !== this.#link || this.#moving) return;
    this.#o.onMoving();
    if (!this.#o.workers.pooled) {
      this.#o.onLost(new ProtocolError("worker_unavailable", "the session's worker went away"));
      return;
    }
    const started = performance.now();
    this.#moving = (async () => {
      try {
        const context = await this.#o.rebuildContext();
        const moved = await this.#openPatiently(context, new Set([link]), started);
        if (this.#closed) {
          moved.close(this.#o.sessionId);
          return;
        }
        this.#link = moved;
        const gapMs = Math.round(performance.now() - started);
        const replayedMicroTurns = this.#recent.size;
        this.#o.log.info("session moved to another worker", {
          sessionId: this.#o.sessionId,
          from: link.url,
          to: moved.url,
          gapMs,
          replayedMicroTurns,
        });
        this.#o.onMoved({ from: link.url, to: moved.url, gapMs, replayedMicroTurns });
      } catch (error) {
        this.#o.onLost(error instanceof Error ? error : new Error(String(error)));
      } finally {
        this.#moving = undefined;
      }
    })();
  }
}
