/**
 * A session's micro-turn clock: its jitter buffer's next deadline, watched by the edge's
 * {@linkcode DeadlineTicker}, so a micro-turn closes on time when its input is missing (the
 * client stalled, its packets were lost). A micro-turn whose packets all arrived closes on
 * them, earlier, and its deadline moves on before the ticker gets to it.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import { type Deadline, type DeadlineTicker, sharedDeadlineTicker } from "./deadline_ticker.ts";

/** Keeps a session's deadline on the ticker; see the module doc. */
export class MicroTurnClock implements Deadline {
  readonly #deadlineMs: () => number;
  readonly #tick: (nowMs: number) => Promise<void>;
  readonly #fail: (error: unknown) => void;
  readonly #ticker: DeadlineTicker;
  /** A close is under way: nothing more is due until it settles. */
  #closing = false;
  #stopped = false;

  /**
   * @param deadlineMs the next deadline, on `clock`
   * @param clock the session's clock
   * @param tick moves the pipeline's clock to `nowMs` (closing what is due); the clock re-arms
   *   once it settles
   * @param fail told when `tick` rejects
   * @param ticker what watches the deadline (default the one of every session on `clock`)
   */
  constructor(
    deadlineMs: () => number,
    clock: Clock,
    tick: (nowMs: number) => Promise<void>,
    fail: (error: unknown) => void,
    ticker: DeadlineTicker = sharedDeadlineTicker(clock),
  ) {
    this.#deadlineMs = deadlineMs;
    this.#tick = tick;
    this.#fail = fail;
    this.#ticker = ticker;
  }

  /** Has the ticker watch the deadline (again, after it may have moved earlier). */
  arm(): void {
    if (this.#stopped || this.#closing) return;
    this.#ticker.watch(this, this.#deadlineMs());
  }

  /** Stops the clock for good. */
  stop(): void {
    this.#stopped = true;
    this.#ticker.unwatch(this);
  }

  /** When the deadline falls due; Infinity while a close is under way. */
  dueMs(): number {
    return this.#closing ? Infinity : this.#deadlineMs();
  }

  /** Closes what is due at `nowMs` (the ticker found the deadline passed). */
  expire(nowMs: number): void {
    this.#closing = true;
    this.#tick(nowMs).then(() => {
      this.#closing = false;
      this.arm();
    }, this.#fail);
  }
}
