/**
 * What rides on a session's next `output` message instead of going alone: the acknowledgement
 * of durable input and the once-a-second link stats. Outputs go five times a second, so waiting
 * for one costs a client little and saves it a message (a phone on a cellular link feels each).
 *
 * An acknowledgement tells the client that its input is durable (it may forget those packets,
 * and replays only the rest after a reconnect). Input becomes durable about a micro-turn after
 * its output went out. Acknowledgements are cumulative, so a newer one that comes before an
 * output replaces the one waiting (the event log's flushes and a session's outputs keep
 * unrelated 200 ms beats: two flushes often fall between two outputs). One goes alone, as an
 * `ack` message:
 * - when the input stopped: no input newer than it has come {@linkcode INPUT_WAIT_MS} after it
 *   became durable (so no micro-turn holding some will close and send an output). With 100 ms
 *   packets a flush often falls between two packets, so it is judged on the egress clock's
 *   ticks a little later, not at once (that was an `ack` message for a third of the flushes);
 * - when outputs stopped: what waits has waited {@linkcode MAX_ACK_HOLD_MS} (no worker, a
 *   stalled step).
 *
 * Stats wait for the next output the same way; when the next second's stats come and the last
 * still wait (outputs stopped), the newer go alone as a `stats` message.
 *
 * @module
 */
import type { OutputMessage, ServerMessage, SessionStats } from "../protocol/client_messages.ts";
import { type EgressClock, sharedEgressClock, type Ticked } from "../pipeline/egress_clock.ts";

/**
 * How long an acknowledgement waits for an output to carry it, in ms: three micro-turns, so an
 * output that comes within a micro-turn of its usual time still carries it.
 */
export const MAX_ACK_HOLD_MS = 600;

/** How long after it became durable newer input must have come, or it goes alone, in ms. */
export const INPUT_WAIT_MS = 150;

/** What a session's {@linkcode OutputRiders} needs. */
export interface OutputRidersOptions {
  /** Sends what cannot wait for an output as its own message. */
  sendAlone(message: ServerMessage): void;
  /** Whether input newer than `sequence` has come. */
  newerInput(sequence: number): boolean;
  /** The clock whose ticks judge whether the input stopped (default the shared egress clock). */
  clock?: EgressClock;
}

/** One session's acknowledgement and stats waiting for an output; see the module doc. */
export class OutputRiders implements Ticked {
  readonly #o: OutputRidersOptions;
  readonly #clock: EgressClock;
  #ack: number | undefined;
  /** When the oldest acknowledgement not yet sent became durable, ms on the clock. */
  #ackSinceMs = 0;
  /** When the waiting acknowledgement was found with no newer input, if it was; else NaN. */
  #inputWaitSinceMs = NaN;
  #stats: SessionStats | undefined;

  /** @param options how to send alone, what input came, the clock */
  constructor(options: OutputRidersOptions) {
    this.#o = options;
    this.#clock = options.clock ?? sharedEgressClock();
  }

  /** Input up to `sequence` became durable. */
  durable(sequence: number): void {
    const now = this.#clock.now();
    if (this.#ack === undefined) this.#ackSinceMs = now;
    if (now - this.#ackSinceMs >= MAX_ACK_HOLD_MS) return this.#sendAck(sequence);
    this.#ack = sequence;
    if (this.#o.newerInput(sequence)) {
      this.#inputWaitSinceMs = NaN;
    } else if (Number.isNaN(this.#inputWaitSinceMs)) {
      this.#inputWaitSinceMs = now;
      this.#clock.add(this);
    }
  }

  /** This second's stats. */
  stats(stats: SessionStats): void {
    if (this.#stats === undefined) {
      this.#stats = stats;
      return;
    }
    this.#stats = undefined;
    this.#o.sendAlone({ type: "stats", ...stats });
  }

  /** `output` with what waits for it (taken). */
  carry(output: OutputMessage): OutputMessage {
    const ack = this.#ack;
    const stats = this.#stats;
    if (ack === undefined && stats === undefined) return output;
    this.#forget();
    return { ...output, ...(ack !== undefined && { ack }), ...(stats && { stats }) };
  }

  /** Forgets what waits: a new connection's `ready` message says what is acknowledged. */
  reset(): void {
    this.#forget();
  }

  /**
   * On the clock's ticks while an acknowledgement waits for newer input: once some came, it
   * waits for the output that follows; when none came in time, it goes alone.
   */
  tick(): boolean {
    const ack = this.#ack;
    if (ack === undefined || Number.isNaN(this.#inputWaitSinceMs)) return false;
    if (this.#o.newerInput(ack)) {
      this.#inputWaitSinceMs = NaN;
      return false;
    }
    if (this.#clock.now() - this.#inputWaitSinceMs < INPUT_WAIT_MS) return true;
    this.#sendAck(ack);
    return false;
  }

  #sendAck(sequence: number): void {
    this.#ack = undefined;
    this.#inputWaitSinceMs = NaN;
    this.#o.sendAlone({ type: "ack", sequence });
  }

  #forget(): void {
    this.#ack = this.#stats = undefined;
    this.#inputWaitSinceMs = NaN;
  }
}
