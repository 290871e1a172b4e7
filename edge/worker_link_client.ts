/**
 * The edge's end of the worker link: one WebSocket to one worker, carrying every session the
 * edge placed there. Opens sessions (waiting for the worker's reply), sends micro-turns and
 * routes outputs and errors back to each session. Reconnects on the next open after a drop;
 * sessions that were on a dropped link are told, so they can end cleanly.
 *
 * @module
 */
import {
  decodeLinkFrame,
  encodeLinkFrame,
  type MicroTurn,
  type MicroTurnOutput,
  type WorkerLinkFrame,
} from "../protocol/worker_link.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import { LINK_BATCHES_PARAMETER, linkFramesIn } from "../protocol/link_batch.ts";
import type { Logger } from "../lib/logger.ts";
// The npm `ws` client, not Deno's WebSocket: Deno's client writes a frame's header and
// payload separately with Nagle's algorithm on, so every micro-turn frame (about 1.7 kB)
// waited for the worker's delayed ACK, 40 ms on Linux. `ws` sets TCP_NODELAY.
// (bench/link_rtt_bench.ts measures both.)
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";

/** What a session hears from its worker. */
export interface LinkSessionHandlers {
  /** An output micro-turn. */
  onOutput(output: MicroTurnOutput): void;
  /** The payloads of the frames micro-turn `index`'s Opus output left null, in order. */
  onAudioRest(index: number, payloads: Uint8Array[]): void;
  /** A per-session error from the worker (the session may go on). */
  onError(code: string, message: string, index: number): void;
  /** The link dropped; the worker no longer holds the session. */
  onLinkLost(): void;
  /** Something the worker tells about the session (`context_full`, `idle_closed`). */
  onEvent(body: Record<string, unknown>, index: number): void;
}

/**
 * How a session wants its output audio from the worker: `opus`, encoded there (for a client
 * that takes Opus), or `pcm` (for an adapter's linear PCM, or for the edge to encode).
 */
export type OutputAudio = "opus" | "pcm";

/** Milliseconds to wait for the worker to accept a link or a session. */
const LINK_TIMEOUT_MS = 5000;

/**
 * The link is pinged this often; a worker that has not answered the previous ping nor sent
 * anything since (stopped, hung, cut off without its socket closing) is given up, as if its
 * link had dropped.
 */
const LINK_PING_MS = 1000;

/** One multiplexed connection to a worker. */
export class WorkerLinkClient {
  #url: string;
  #log: Logger;
  readonly #secret: string | undefined;
  #socket: NodelayWebSocket | undefined;
  #connecting: Promise<NodelayWebSocket> | undefined;
  #sessions = new Map<string, LinkSessionHandlers>();
  #pendingOpens = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();

  /**
   * @param url the worker's link endpoint, e.g. `ws://127.0.0.1:8001/v1/link`
   * @param log where link events are logged
   * @param secret the internal links' shared secret, presented as a bearer token
   */
  constructor(url: string, log: Logger, secret?: string) {
    this.#url = url;
    this.#log = log;
    this.#secret = secret;
  }

  /** The worker's link endpoint. */
  get url(): string {
    return this.#url;
  }

  /** True while the link is open. */
  get connected(): boolean {
    return this.#socket?.readyState === NodelayWebSocket.OPEN;
  }

  /**
   * Opens a session on the worker, its context rebuilt from `context` and then from the
   * micro-turns `replay` returns once the worker has taken the session (taken then, so none
   * closing meanwhile is missed). With `audio: "opus"` the worker encodes the session's output
   * (a worker that does not sends PCM all the same). Rejects with `worker_unavailable` if it
   * cannot.
   */
  async open(
    sessionId: string,
    session: { startedAtMs: number; audio: OutputAudio },
    handlers: LinkSessionHandlers,
    context = "",
    replay: () => MicroTurn[] = () => [],
  ): Promise<void> {
    const socket = await this.#connect();
    const opened = new Promise<void>((resolve, reject) => {
      this.#pendingOpens.set(sessionId, { resolve, reject });
    });
    this.#sessions.set(sessionId, handlers);
    const body = { startedAtMs: session.startedAtMs, context, audio: session.audio };
    socket.send(encodeLinkFrame({ type: "open", sessionId, index: 0, body }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        opened,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new ProtocolError("worker_unavailable", "worker did not open the session")),
            LINK_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      this.#sessions.delete(sessionId);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#pendingOpens.delete(sessionId);
    }
    this.#replay(sessionId, replay());
  }

  /** Sends a micro-turn; false when the link is down. */
  send(turn: MicroTurn): boolean {
    if (!this.connected) return false;
    this.#socket!.send(encodeLinkFrame({ type: "micro_turn", turn }));
    return true;
  }

  /**
   * Asks the worker to rebuild a session's context from `context` (after a compaction) and
   * then from the recent micro-turns `replay`; it runs in order with the session's
   * micro-turns. False when the link is down.
   */
  rebuild(sessionId: string, context: string, replay: MicroTurn[] = []): boolean {
    if (!this.connected) return false;
    this.#socket!.send(
      encodeLinkFrame({ type: "rebuild", sessionId, index: 0, body: { context } }),
    );
    this.#replay(sessionId, replay);
    return true;
  }

  /** Sends recent micro-turns to append to a session's rebuilt context. */
  #replay(sessionId: string, turns: MicroTurn[]): void {
    if (turns.length === 0 || !this.connected) return;
    this.#socket!.send(encodeLinkFrame({ type: "replay", sessionId, turns }));
  }

  /** Closes a session on the worker. */
  close(sessionId: string): void {
    this.#sessions.delete(sessionId);
    if (this.connected) {
      this.#socket!.send(encodeLinkFrame({ type: "close", sessionId, index: 0, body: {} }));
    }
  }

  /** Closes the link. */
  disconnect(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000, "edge shutting down");
  }

  #connect(): Promise<NodelayWebSocket> {
    if (this.connected) return Promise.resolve(this.#socket!);
    this.#connecting ??= new Promise<NodelayWebSocket>((resolve, reject) => {
      // The worker may send a step's frames as one message (protocol/link_batch.ts).
      const url = new URL(this.#url);
      url.searchParams.set(LINK_BATCHES_PARAMETER, "1");
      const socket = new NodelayWebSocket(
        url,
        this.#secret ? { headers: { authorization: `Bearer ${this.#secret}` } } : undefined,
      );
      socket.binaryType = "arraybuffer";
      const timer = setTimeout(() => socket.close(), LINK_TIMEOUT_MS);
      let answered = true;
      let lastTick = performance.now();
      let pinger: ReturnType<typeof setInterval> | undefined;
      socket.on("pong", () => answered = true);
      socket.onopen = () => {
        clearTimeout(timer);
        lastTick = performance.now();
        pinger = setInterval(() => {
          // A tick that comes late means this process was busy: an answer may be waiting
          // unread, so it judges nothing and pings again.
          const late = performance.now() - lastTick > LINK_PING_MS * 1.5;
          lastTick = performance.now();
          if (!answered && !late) {
            this.#log.warn("worker link stalled", { url: this.#url });
            socket.terminate();
            return;
          }
          answered = false;
          socket.ping();
        }, LINK_PING_MS);
        this.#socket = socket;
        this.#connecting = undefined;
        this.#log.info("worker link connected", { url: this.#url });
        resolve(socket);
      };
      socket.onmessage = (event) => {
        answered = true; // any frame shows the worker is there
        this.#receive(event.data);
      };
      // Failures also close the socket; onclose reports them. Without a listener, `ws` would
      // throw its error event as an uncaught exception.
      socket.onerror = () => {};
      socket.onclose = () => {
        clearTimeout(timer);
        clearInterval(pinger);
        this.#connecting = undefined;
        if (this.#socket === socket) this.#lost();
        reject(new ProtocolError("worker_unavailable", `cannot reach worker at ${this.#url}`));
      };
    });
    return this.#connecting;
  }

  #lost(): void {
    this.#socket = undefined;
    this.#log.warn("worker link lost", { url: this.#url, sessions: this.#sessions.size });
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    // A session still opening is refused now, not when its open times out: in a pool it goes
    // to another worker at once (a session moving off a worker that is then drained, say).
    const opening = [...this.#pendingOpens.values()];
    this.#pendingOpens.clear();
    for (const pending of opening) {
      pending.reject(
        new ProtocolError(
          "worker_unavailable",
          "the worker link dropped before it opened the session",
        ),
      );
    }
    for (const handlers of sessions) handlers.onLinkLost();
  }

  #receive(data: unknown): void {
    let frames: Uint8Array[];
    try {
      frames = linkFramesIn(new Uint8Array(data as ArrayBuffer));
    } catch (error) {
      this.#log.error("undecodable batch from worker", { error });
      return;
    }
    for (const bytes of frames) {
      let frame: WorkerLinkFrame;
      try {
        frame = decodeLinkFrame(bytes);
      } catch (error) {
        this.#log.error("undecodable frame from worker", { error });
        continue;
      }
      this.#route(frame);
    }
  }

  #route(frame: WorkerLinkFrame): void {
    switch (frame.type) {
      case "output":
        this.#sessions.get(frame.output.sessionId)?.onOutput(frame.output);
        return;
      case "audio_rest":
        this.#sessions.get(frame.sessionId)?.onAudioRest(frame.index, frame.payloads);
        return;
      case "opened":
        this.#pendingOpens.get(frame.sessionId)?.resolve();
        return;
      case "error": {
        const code = String(frame.body.code);
        const message = String(frame.body.message);
        const pending = this.#pendingOpens.get(frame.sessionId);
        if (pending) {
          // A full worker says so (the session may fit on another); anything else is a failure.
          pending.reject(
            new ProtocolError(
              code === "capacity_exhausted" ? "capacity_exhausted" : "worker_unavailable",
              `${code}: ${message}`,
            ),
          );
        } else if (this.#sessions.has(frame.sessionId)) {
          this.#sessions.get(frame.sessionId)!.onError(code, message, frame.index);
        } else {
          this.#log.warn("worker reported an error", { code, message });
        }
        return;
      }
      case "event":
        this.#sessions.get(frame.sessionId)?.onEvent(frame.body, frame.index);
        return;
      default:
        this.#log.warn("unexpected frame from worker", { type: frame.type });
    }
  }
}
