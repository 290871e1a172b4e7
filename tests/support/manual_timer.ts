/**
 * A {@linkcode TickTimer} that moves only when told to: tests drive an egress clock tick by
 * tick, the same on a loaded machine as on an idle one.
 *
 * @module
 */
import type { TickTimer } from "../../pipeline/egress_clock.ts";

/** Time and timers that advance by hand; timers fire in due order as time passes them. */
export class ManualTickTimer implements TickTimer {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, { dueMs: number; callback: () => void }>();

  /** @param startMs the time it starts at */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** Current time. */
  now(): number {
    return this.#now;
  }

  /** Timers set and not yet fired nor cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Schedules `callback` at now + `ms`. */
  setTimeout(callback: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { dueMs: this.#now + Math.max(0, ms), callback });
    return id;
  }

  /** Cancels a timer. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing each timer due on the way at its due time (`late`: that
   * many ms after it, as a busy event loop would).
   */
  advance(ms: number, late = 0): void {
    const until = this.#now + ms;
    for (;;) {
      let next: [number, { dueMs: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) if (!next || entry[1].dueMs < next[1].dueMs) next = entry;
      if (!next || next[1].dueMs + late > until) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].dueMs + late);
      next[1].callback();
    }
    this.#now = until;
  }
}
