/**
 * A session's recent inputs, kept so that a rebuilt context (the session moved to another
 * worker, or was compacted) holds what the user said and showed, not only what was typed: the
 * last {@linkcode MAX_REPLAY_MICRO_TURNS} micro-turns' dMel codes (1.6 KB each, copied into one
 * preallocated ring) and the newest camera frame among them. Typed text is left out: the
 * conversation text the rebuild starts from already holds it.
 *
 * @module
 */
import { MAX_REPLAY_MICRO_TURNS, type MicroTurn } from "../protocol/worker_link.ts";
import { DMEL_BINS, DMEL_FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";

const DMEL_BYTES = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;
const NO_BYTES = new Uint8Array(0);

/** A ring of a session's last micro-turn inputs, for replay into a rebuilt context. */
export class RecentInputs {
  readonly #capacity: number;
  readonly #dmel: Uint8Array;
  readonly #turns: MicroTurn[] = [];
  #next = 0;
  /** The newest camera frame: its micro-turn index and patches. */
  #frame: { index: number; patchCount: number; patches: Uint8Array } | undefined;

  /** @param capacity micro-turns kept; default {@linkcode MAX_REPLAY_MICRO_TURNS} */
  constructor(capacity = MAX_REPLAY_MICRO_TURNS) {
    this.#capacity = capacity;
    this.#dmel = new Uint8Array(capacity * DMEL_BYTES);
  }

  /** Micro-turns kept now. */
  get size(): number {
    return this.#turns.length;
  }

  /** Keeps a closed micro-turn's input, forgetting the oldest when full. */
  push(turn: MicroTurn): void {
    const at = this.#next % this.#capacity;
    this.#next++;
    const dmel = this.#dmel.subarray(at * DMEL_BYTES, (at + 1) * DMEL_BYTES);
    dmel.fill(0).set(turn.dmel.subarray(0, DMEL_BYTES));
    if (turn.patchCount > 0) {
      this.#frame = { index: turn.index, patchCount: turn.patchCount, patches: turn.patches };
    }
    this.#turns[at] = {
      sessionId: turn.sessionId,
      index: turn.index,
      wallClockMs: turn.wallClockMs,
      flags: turn.flags,
      dmelFrames: DMEL_FRAMES_PER_MICRO_TURN,
      dmel,
      frameOrigins: turn.frameOrigins,
      lateMediaMs: [],
      text: "",
      patchCount: 0,
      patches: NO_BYTES,
    };
  }

  /** The kept micro-turns, oldest first, the newest camera frame on its own micro-turn. */
  turns(): MicroTurn[] {
    const start = this.#turns.length < this.#capacity ? 0 : this.#next % this.#capacity;
    const ordered = [...this.#turns.slice(start), ...this.#turns.slice(0, start)];
    return ordered.map((turn) =>
      turn.index === this.#frame?.index
        ? { ...turn, patchCount: this.#frame.patchCount, patches: this.#frame.patches }
        : turn
    );
  }
}
