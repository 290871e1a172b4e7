/**
 * When a client hears that its input is durable (it may then forget those packets, and replays
 * only the rest after a reconnect). Every micro-turn's input becomes durable about a micro-turn
 * after its `output` went out, so an acknowledgement normally rides on the next `output`: one
 * message fewer a micro-turn, which a phone on a cellular link feels. It goes out as its own
 * `ack` message when no output need follow (no newer input is in) or when outputs stopped (a
 * second acknowledgement is due before any output carried the first: no worker, a stalled step).
 *
 * @module
 */

/** One session's acknowledgement waiting for an output to carry it. */
export class InputAcknowledgements {
  #pending: number | undefined;

  /**
   * Input up to `sequence` became durable; `newerInput` says whether input after it is in (so
   * a micro-turn holding it will close and its output go out). Returns the sequence to send
   * now in an `ack` message, or undefined when the next output carries it.
   */
  durable(sequence: number, newerInput: boolean): number | undefined {
    if (this.#pending === undefined && newerInput) {
      this.#pending = sequence;
      return undefined;
    }
    this.#pending = undefined;
    return sequence;
  }

  /** The acknowledgement the output about to go out carries, if one waits (taken). */
  carry(): number | undefined {
    const sequence = this.#pending;
    this.#pending = undefined;
    return sequence;
  }

  /** Forgets what waits: a new connection's `ready` message says what is acknowledged. */
  reset(): void {
    this.#pending = undefined;
  }
}
