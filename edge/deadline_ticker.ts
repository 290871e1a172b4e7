/**
 * One timer for every session's micro-turn deadlines (edge/micro_turn_clock.ts). A timer per
 * session fired at each of its deadlines, five a second, though its micro-turn had almost
 * always closed on its packets by then; each was a callback, a timer object that lived 200 ms
 * (long enough to be copied by a scavenge, often promoted) and a reschedule. The ticker wakes
 * at the earliest deadline it watches, at most once every {@linkcode DEADLINE_TICK_MS}, and
 * closes what is due then: with many sessions a deadline closes up to that much late, which is
 * nothing beside the jitter target that a deadline close already waited.
 *
 * A deadline that has passed closes only after one hop through the event loop's I/O. After a
 * busy stretch (a garbage collection, a burst of work) the loop runs expired timers before it
 * reads its sockets, so the packet that completes a micro-turn may have come in time and still
 * wait unread; closing first would conceal audio the edge had. The hop (`setImmediate`: after
 * the loop's poll for I/O, and unlike a nested `setTimeout(0)` never clamped to 4 ms) lets it
 * in; a micro-turn it completes has its deadline moved on, and nothing is closed.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";
import { systemTickTimer, type TickTimer } from "../pipeline/egress_clock.ts";

/** Least time between two wake-ups of a ticker, ms. */
export const DEADLINE_TICK_MS = 2;

/** The timers a {@linkcode DeadlineTicker} runs on; tests drive them by hand. */
export interface DeadlineTimers extends Pick<TickTimer, "setTimeout" | "clearTimeout"> {
  /** Calls `callback` once the input the event loop has ready now has been read. */
  afterPendingInput(callback: () => void): void;
}

/** The platform's timers. */
export const systemDeadlineTimers: DeadlineTimers = {
  setTimeout: systemTickTimer.setTimeout,
  clearTimeout: systemTickTimer.clearTimeout,
  afterPendingInput: (callback) => setImmediate(callback),
};

/** What a ticker watches: one session's deadline. */
export interface Deadline {
  /** When it falls due, on the ticker's clock; Infinity while nothing can fall due. */
  dueMs(): number;
  /** Called once it has fallen due and pending input has been read: closes what is due. */
  expire(nowMs: number): void;
}

/** Wakes at the earliest deadline it watches; see the module doc. */
export class DeadlineTicker {
  readonly #clock: Clock;
  readonly #timers: DeadlineTimers;
  readonly #tickMs: number;
  readonly #watched = new Set<Deadline>();
  #timer: unknown;
  /** When the pending timer fires (Infinity: none is pending). */
  #wakeAtMs = Infinity;
  #lastTickMs = -Infinity;
  /** Pending input is being read before due deadlines close; wake-ups wait for it. */
  #hopping = false;
  /** The earliest deadline asked for while hopping. */
  #wakeAfterHopMs = Infinity;

  /**
   * @param clock the time deadlines are on
   * @param timers the timers it runs on (default the platform's)
   * @param tickMs least time between two wake-ups
   */
  constructor(
    clock: Clock,
    timers: DeadlineTimers = systemDeadlineTimers,
    tickMs = DEADLINE_TICK_MS,
  ) {
    this.#clock = clock;
    this.#timers = timers;
    this.#tickMs = tickMs;
  }

  /** Deadlines it watches now. */
  get size(): number {
    return this.#watched.size;
  }

  /** Watches `deadline` from now on, looking no later than `dueMs` (its deadline now). */
  watch(deadline: Deadline, dueMs: number): void {
    this.#watched.add(deadline);
    this.#wake(dueMs);
  }

  /** Stops watching `deadline`. */
  unwatch(deadline: Deadline): void {
    if (!this.#watched.delete(deadline) || this.#watched.size > 0) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeAtMs = Infinity;
  }

  /** Makes sure the ticker looks at `dueMs` or soon after (at most a tick after the last). */
  #wake(dueMs: number): void {
    if (this.#hopping) {
      this.#wakeAfterHopMs = Math.min(this.#wakeAfterHopMs, dueMs);
      return;
    }
    if (dueMs === Infinity) return;
    const at = Math.max(dueMs, this.#lastTickMs + this.#tickMs);
    if (this.#wakeAtMs <= at) return;
    this.#timers.clearTimeout(this.#timer);
    this.#wakeAtMs = at;
    this.#timer = this.#timers.setTimeout(
      () => this.#tick(),
      Math.max(0, at - this.#clock.now()),
    );
  }

  #tick(): void {
    this.#timer = undefined;
    this.#wakeAtMs = Infinity;
    const now = this.#clock.now();
    this.#lastTickMs = now;
    let due: Deadline[] | undefined;
    let earliest = Infinity;
    for (const deadline of this.#watched) {
      const dueMs = deadline.dueMs();
      if (dueMs <= now) (due ??= []).push(deadline);
      else if (dueMs < earliest) earliest = dueMs;
    }
    if (!due) return this.#wake(earliest);
    // A deadline that moves earlier meanwhile is told through #wake; one that moves later only
    // makes the next wake-up find nothing due.
    this.#hopping = true;
    this.#wakeAfterHopMs = earliest;
    this.#timers.afterPendingInput(() => {
      this.#hopping = false;
      const now = this.#clock.now();
      for (const deadline of due) {
        if (!this.#watched.has(deadline)) continue; // its session ended meanwhile
        const dueMs = deadline.dueMs();
        // Input read during the hop may have completed the micro-turn.
        if (dueMs <= now) deadline.expire(now);
        else this.#wakeAfterHopMs = Math.min(this.#wakeAfterHopMs, dueMs);
      }
      // Nothing to wake for once the last session has gone.
      if (this.#watched.size > 0) this.#wake(this.#wakeAfterHopMs);
    });
  }
}

const tickers = new WeakMap<Clock, DeadlineTicker>();

/** The ticker of every session on `clock`, made on first use. */
export function sharedDeadlineTicker(clock: Clock): DeadlineTicker {
  let ticker = tickers.get(clock);
  if (!ticker) tickers.set(clock, ticker = new DeadlineTicker(clock));
  return ticker;
}
