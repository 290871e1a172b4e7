/**
 * Notices a client connection that has gone quiet: a phone whose network vanished without
 * closing its TCP connection, or a client that connects and never speaks, keeps a session (and
 * its worker slot) for nothing. Every message touches the watch; once none has come for
 * `idleMs` (on the session's clock), `onIdle` runs once.
 *
 * @module
 */
import type { Clock } from "../lib/clock.ts";

/** How often the watch looks at most, ms of real time. */
const CHECK_EVERY_MS = 250;

/** One connection's idle watch. */
export class ClientIdleWatch {
  readonly #idleMs: number;
  readonly #clock: Clock;
  readonly #onIdle: () => void;
  #lastMs = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param idleMs quiet time after which the connection is given up (0: never)
   * @param clock the session's clock
   * @param onIdle told once, when it is
   */
  constructor(idleMs: number, clock: Clock, onIdle: () => void) {
    this.#idleMs = idleMs;
    this.#clock = clock;
    this.#onIdle = onIdle;
  }

  /** Starts watching (the connection opened). */
  start(): void {
    if (this.#idleMs === 0 || this.#timer !== undefined) return;
    this.#lastMs = this.#clock.now();
    this.#timer = setInterval(() => {
      if (this.#clock.now() - this.#lastMs < this.#idleMs) return;
      this.stop();
      this.#onIdle();
    }, Math.min(CHECK_EVERY_MS, this.#idleMs));
  }

  /** A message came. */
  touch(): void {
    this.#lastMs = this.#clock.now();
  }

  /** Stops watching (the connection closed). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
