/**
 * A session's micro-turn clock: a timer kept at its jitter buffer's next deadline, so a
 * micro-turn closes on time when its input is missing (the client stalled, its packets were
 * lost). A micro-turn whose packets all arrived closes on them, earlier: the timer then finds
 * the deadline moved on and re-arms for the next one without waking the pipeline.
 *
 * A deadline that has passed closes its micro-turn only after one hop through the event loop's
 * I/O. After a busy stretch (a garbage collection, a burst of work) the loop runs expired timers
 * before it reads its sockets, so the packet that completes the micro-turn may have come in time
 * and still wait unread; closing first would conceal audio the edge had. The hop
 * (`setImmediate`: after the loop's poll for I/O, and unlike a nested `setTimeout(0)` never
 * clamped to 4 ms) lets that packet in; if it completes the micro-turn, the deadline has moved
 * and nothing is closed.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";

/** The timers a {@linkcode MicroTurnClock} runs on; tests drive them by hand. */
export interface DeadlineTimers {
  /** Calls `callback` after `ms`; returns the timer's handle. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer that has not fired. */
  clearTimeout(handle: unknown): void;
  /** Calls `callback` once the input the event loop has ready now has been read. */
  afterPendingInput(callback: () => void): void;
}

/** The platform's timers. */
export const systemDeadlineTimers: DeadlineTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  afterPendingInput: (callback) => setImmediate(callback),
};

/** Keeps one timer at a deadline that moves; see the module doc. */
export class MicroTurnClock {
  readonly #deadlineMs: () => number;
  readonly #clock: Clock;
  readonly #tick: (nowMs: number) => Promise<void>;
  readonly #fail: (error: unknown) => void;
  readonly #timers: DeadlineTimers;
  #timer: unknown;
  #timerDueMs = 0;
  /** A passed deadline waits for pending input before it closes anything. */
  #hopping = false;
  #stopped = false;

  /**
   * @param deadlineMs the next deadline, on `clock`
   * @param clock the session's clock
   * @param tick moves the pipeline's clock to `nowMs` (closing what is due); the clock re-arms
   *   once it settles
   * @param fail told when `tick` rejects
   * @param timers the timers it runs on (default the platform's)
   */
  constructor(
    deadlineMs: () => number,
    clock: Clock,
    tick: (nowMs: number) => Promise<void>,
    fail: (error: unknown) => void,
    timers: DeadlineTimers = systemDeadlineTimers,
  ) {
    this.#deadlineMs = deadlineMs;
    this.#clock = clock;
    this.#tick = tick;
    this.#fail = fail;
    this.#timers = timers;
  }

  /** Sets the timer for the deadline, unless one is set already for no later. */
  arm(): void {
    if (this.#stopped || this.#hopping) return;
    const now = this.#clock.now();
    const dueMs = Math.max(now, this.#deadlineMs());
    if (this.#timer !== undefined && this.#timerDueMs <= dueMs) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timerDueMs = dueMs;
    this.#timer = this.#timers.setTimeout(() => this.#fire(), dueMs - now);
  }

  /** Stops the clock for good. */
  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    // The micro-turn closed on its packets: nothing is due yet.
    if (this.#deadlineMs() > this.#clock.now()) return this.arm();
    this.#hopping = true;
    this.#timers.afterPendingInput(() => {
      this.#hopping = false;
      if (this.#stopped) return;
      const now = this.#clock.now();
      if (this.#deadlineMs() > now) return this.arm();
      this.#tick(now).then(() => this.arm(), this.#fail);
    });
  }
}
