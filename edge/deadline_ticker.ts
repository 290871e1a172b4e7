/**
 * One timer for every session's micro-turn deadlines (edge/micro_turn_clock.ts). A timer per
 * session fired at each of its deadlines, five a second, though its micro-turn had almost
 * always closed on its packets by then; each was a callback, a timer object that lived 200 ms
 * (long enough to be copied by a scavenge, often promoted) and a reschedule. The ticker wakes
 * at the earliest deadline it watches, at most once every {@linkcode DEADLINE_TICK_MS}, and
 * closes what is due then: with many sessions a deadline closes up to that much late, which is
 * nothing beside the jitter target that a deadline close already waited.
 *
 * A wake-up looks only at the deadlines whose time has come, in a heap by the time each was
 * last known to fall due. A deadline moves later without telling (its micro-turn closed on its
 * packets); the ticker finds out when the old time comes and files it under the new one. Each
 * session is looked at about once a micro-turn, where a scan of them all at every wake-up (with
 * many sessions, every tick) was 2.3 % of an edge's CPU at 180 sessions (bench:sockets, perf).
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
import { MinHeap } from "../lib/min_heap.ts";
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
  /**
   * Every deadline watched, with the time it is filed under in #byTime: when the ticker next
   * looks at it (Infinity: filed nowhere, as while it is due or closing).
   */
  readonly #watched = new Map<Deadline, number>();
  /** Deadlines by the time to look at them; an entry whose time is not #watched's is stale. */
  readonly #byTime = new MinHeap<Deadline>();
  #timer: unknown;
  /** When the pending timer fires (Infinity: none is pending). */
  #wakeAtMs = Infinity;
  #lastTickMs = -Infinity;
  /** Pending input is being read before due deadlines close; wake-ups wait for it. */
  #hopping = false;

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

  /**
   * Watches `deadline` from now on, looking no later than `dueMs` (its deadline now: tell it
   * again whenever it moves earlier).
   */
  watch(deadline: Deadline, dueMs: number): void {
    if (!this.#watched.has(deadline)) this.#watched.set(deadline, Infinity);
    this.#file(deadline, dueMs);
  }

  /** Stops watching `deadline`. */
  unwatch(deadline: Deadline): void {
    if (!this.#watched.delete(deadline) || this.#watched.size > 0) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeAtMs = Infinity;
    this.#byTime.clear();
  }

  /**
   * Files a watched deadline under `dueMs` if that is earlier than where it is filed, and
   * wakes for it unless `wake` is false (the caller wakes once for many).
   */
  #file(deadline: Deadline, dueMs: number, wake = true): void {
    if (!(dueMs < this.#watched.get(deadline)!)) return;
    this.#watched.set(deadline, dueMs);
    this.#byTime.push(dueMs, deadline);
    if (wake) this.#wake(dueMs);
  }

  /** Makes sure the ticker looks at `dueMs` or soon after (at most a tick after the last). */
  #wake(dueMs: number): void {
    if (this.#hopping || dueMs === Infinity) return; // the hop wakes it when it ends
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
    const byTime = this.#byTime;
    let due: Deadline[] | undefined;
    while (byTime.peekKey() <= now) {
      const filedAt = byTime.peekKey();
      const deadline = byTime.pop()!;
      if (this.#watched.get(deadline) !== filedAt) continue; // stale: unwatched or moved up
      const dueMs = deadline.dueMs();
      this.#watched.set(deadline, Infinity);
      if (dueMs <= now) (due ??= []).push(deadline);
      else this.#file(deadline, dueMs, false); // moved later (closing: filed once re-armed)
    }
    if (!due) return this.#wake(byTime.peekKey());
    // No timer runs during the hop: it wakes for the earliest deadline filed once it ends.
    this.#hopping = true;
    this.#timers.afterPendingInput(() => {
      this.#hopping = false;
      const now = this.#clock.now();
      for (const deadline of due) {
        if (!this.#watched.has(deadline)) continue; // its session ended meanwhile
        const dueMs = deadline.dueMs();
        // Input read during the hop may have completed the micro-turn.
        if (dueMs <= now) deadline.expire(now);
        else this.#file(deadline, dueMs);
      }
      // Nothing to wake for once the last session has gone.
      if (this.#watched.size > 0) this.#wake(byTime.peekKey());
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
