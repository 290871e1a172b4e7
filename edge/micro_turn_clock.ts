/**
 * A session's micro-turn clock: a timer kept at its jitter buffer's next deadline, so a
 * micro-turn closes on time when its input is missing (the client stalled, its packets were
 * lost). A micro-turn whose packets all arrived closes on them, earlier: the timer then finds
 * the deadline moved on and re-arms for the next one without waking the pipeline.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";

/** Keeps one timer at a deadline that moves; see the module doc. */
export class MicroTurnClock {
  readonly #deadlineMs: () => number;
  readonly #clock: Clock;
  readonly #tick: (nowMs: number) => Promise<void>;
  readonly #fail: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDueMs = 0;
  #stopped = false;

  /**
   * @param deadlineMs the next deadline, on `clock`
   * @param clock the session's clock
   * @param tick moves the pipeline's clock to `nowMs` (closing what is due); the clock re-arms
   *   once it settles
   * @param fail told when `tick` rejects
   */
  constructor(
    deadlineMs: () => number,
    clock: Clock,
    tick: (nowMs: number) => Promise<void>,
    fail: (error: unknown) => void,
  ) {
    this.#deadlineMs = deadlineMs;
    this.#clock = clock;
    this.#tick = tick;
    this.#fail = fail;
  }

  /** Sets the timer for the deadline, unless one is set already for no later. */
  arm(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const dueMs = Math.max(now, this.#deadlineMs());
    if (this.#timer !== undefined && this.#timerDueMs <= dueMs) return;
    clearTimeout(this.#timer);
    this.#timerDueMs = dueMs;
    this.#timer = setTimeout(() => this.#fire(), dueMs - now);
  }

  /** Stops the clock for good. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = this.#clock.now();
    // The micro-turn closed on its packets: nothing is due yet.
    if (this.#deadlineMs() > now) return this.arm();
    this.#tick(now).then(() => this.arm(), this.#fail);
  }
}
