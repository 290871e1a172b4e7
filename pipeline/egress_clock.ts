/**
 * One clock for every session's output pacing: a single timer ticks every 20 ms while any
 * pacer has frames queued, and each tick lets every such pacer send what falls due before the
 * next tick. A timer per session per frame (2,500 a second at 100 speaking sessions) cost the
 * edge a callback, a timer object and a reschedule per packet; one tick serves them all. Each
 * tick sends the frames due before the next one, so a frame goes out at most one tick early
 * and never late (unless the tick itself is): the client's jitter buffer absorbs early
 * packets, where late ones it would conceal.
 *
 * Time is injected ({@linkcode TickTimer}) so tests drive the clock by hand.
 *
 * @module
 */
import { AUDIO_FRAME_MS } from "../protocol/media_format.ts";

/** What an {@linkcode EgressClock} drives. */
export interface Ticked {
  /**
   * Sends the frames due before `untilMs` (the next tick, on the clock's `now()` scale); returns
   * whether frames remain queued (false takes it off the clock until it is added again).
   */
  tick(untilMs: number): boolean;
}

/** The time and one-shot timer a clock runs on. */
export interface TickTimer {
  /** Monotonic time, ms. */
  now(): number;
  /** Calls `callback` after `ms`; returns the timer's handle. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer that has not fired. */
  clearTimeout(handle: unknown): void;
}

/** The real timer: `performance.now()` and the platform's timers. */
export const systemTickTimer: TickTimer = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Ticks every {@linkcode EgressClock.tickMs} while it drives anything; see the module doc. */
export class EgressClock {
  /** The tick period, ms: one output frame. */
  readonly tickMs: number;
  readonly #timer: TickTimer;
  readonly #driven = new Set<Ticked>();
  #pending: unknown;
  #nextTickMs = 0;

  /** @param timer the time it runs on (default the real one) @param tickMs the period */
  constructor(timer: TickTimer = systemTickTimer, tickMs = AUDIO_FRAME_MS) {
    this.#timer = timer;
    this.tickMs = tickMs;
  }

  /** Now, on the clock's time scale. */
  now(): number {
    return this.#timer.now();
  }

  /** Pacers it drives now. */
  get size(): number {
    return this.#driven.size;
  }

  /** Drives `ticked` from the next tick on, until its `tick` returns false. */
  add(ticked: Ticked): void {
    this.#driven.add(ticked);
    if (this.#pending !== undefined) return;
    // Idle until now: the first tick comes one period from here.
    this.#nextTickMs = this.#timer.now() + this.tickMs;
    this.#pending = this.#timer.setTimeout(() => this.#tick(), this.tickMs);
  }

  /** Stops driving `ticked`. */
  delete(ticked: Ticked): void {
    this.#driven.delete(ticked);
    if (this.#driven.size > 0 || this.#pending === undefined) return;
    this.#timer.clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  /**
   * When the next tick comes (one period from now while idle): a pacer given frames sends at
   * once those due before it, as that tick sends those due before the one after.
   */
  nextTickMs(): number {
    const now = this.#timer.now();
    return this.#pending === undefined ? now + this.tickMs : Math.max(this.#nextTickMs, now + 1);
  }

  #tick(): void {
    this.#pending = undefined;
    const now = this.#timer.now();
    // On the clock's own schedule; a tick that came late (a busy loop) skips the missed ones.
    this.#nextTickMs += this.tickMs;
    if (this.#nextTickMs <= now) this.#nextTickMs = now + this.tickMs;
    for (const ticked of this.#driven) {
      if (!ticked.tick(this.#nextTickMs)) this.#driven.delete(ticked);
    }
    if (this.#driven.size > 0) {
      this.#pending = this.#timer.setTimeout(() => this.#tick(), this.#nextTickMs - now);
    }
  }
}

let shared: EgressClock | undefined;

/** The process's egress clock, made on first use: every pacer without its own shares it. */
export function sharedEgressClock(): EgressClock {
  return shared ??= new EgressClock();
}
