/**
 * A session's compaction, off the real-time path: when its worker's context window is full,
 * the stored history is summarized and the worker rebuilds the session's context from it, in
 * order with its micro-turns. Micro-turns go on meanwhile (on the worker's sliding window); a
 * failure is logged and tried again at the next `context_full`.
 *
 * @module
 */
import type { EdgeSessionOptions } from "./edge_session_options.ts";
import type { SessionWorker } from "./session_worker.ts";

/** What a {@linkcode SessionCompaction} works with, beside the session's own options. */
export interface SessionCompactionParts {
  /** The session's worker, once placed. */
  worker: () => SessionWorker | undefined;
  /** Micro-turns recorded so far. */
  microTurns: () => number;
  /** Whether the session is ending (a compaction then is pointless). */
  ending: () => boolean;
}

/** Compacts a session's history, one compaction at a time; see the module doc. */
export class SessionCompaction {
  readonly #o: EdgeSessionOptions;
  readonly #parts: SessionCompactionParts;
  #running: Promise<void> | undefined;

  /** @param options the session's options @param parts its worker and state */
  constructor(options: EdgeSessionOptions, parts: SessionCompactionParts) {
    this.#o = options;
    this.#parts = parts;
  }

  /** The worker's context `window` is full: compacts, unless one is running already. */
  request(window: number): void {
    const { sessionId, eventLog, clock, log, compact } = this.#o;
    if (!compact || this.#running || this.#parts.ending()) return;
    this.#running = (async () => {
      const started = performance.now();
      await eventLog.flush();
      const result = await compact(window);
      if (!result || this.#parts.ending()) return;
      this.#parts.worker()?.rebuild(result.context);
      eventLog.append(sessionId, {
        kind: "compacted",
        microTurn: this.#parts.microTurns(),
        wallTime: new Date(clock.now()),
        payload: {
          compactionId: result.compactionId,
          contextChars: result.context.length,
          ms: Math.round(performance.now() - started),
        },
      });
    })().catch((error) => log.warn("compaction failed", { sessionId, error: String(error) }))
      .finally(() => this.#running = undefined);
  }
}
