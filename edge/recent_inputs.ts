/**
 * A session's recent inputs, kept so that a rebuilt context (the session moved to another
 * worker, or was compacted) holds what the user said and showed, not only what was typed: the
 * last {@linkcode MAX_REPLAY_MICRO_TURNS} micro-turns' dMel codes (1.6 KB each, copied into one
 * preallocated ring, as are their other fields) and the newest camera frame among them. Typed
 * text is left out: the conversation text the rebuild starts from already holds it.
 *
 * @module
 */
import { MAX_REPLAY_MICRO_TURNS, type MicroTurn } from "../protocol/worker_link.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";

const DMEL_BYTES = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;
const NO_BYTES = new Uint8Array(0);

/** A ring of a session's last micro-turn inputs, for replay into a rebuilt context. */
export class RecentInputs {
  readonly #capacity: number;
  readonly #dmel: Uint8Array;
  // Each micro-turn's fields in preallocated rings: a session pushes five a second and keeps
  // them 12.8 s, so an object a micro-turn would live long enough to reach V8's old generation
  // (and its collections, which pause the edge); only a replay builds objects.
  readonly #indexes: Int32Array;
  readonly #wallClockMs: Float64Array;
  readonly #flags: Uint16Array;
  readonly #origins: Uint8Array;
  #sessionId = "";
  #next = 0;
  /** The newest camera frame: its micro-turn index and patches. */
  #frame: { index: number; patchCount: number; patches: Uint8Array } | undefined;

  /** @param capacity micro-turns kept; default {@linkcode MAX_REPLAY_MICRO_TURNS} */
  constructor(capacity = MAX_REPLAY_MICRO_TURNS) {
    this.#capacity = capacity;
    this.#dmel = new Uint8Array(capacity * DMEL_BYTES);
    this.#indexes = new Int32Array(capacity);
    this.#wallClockMs = new Float64Array(capacity);
    this.#flags = new Uint16Array(capacity);
    this.#origins = new Uint8Array(capacity * FRAMES_PER_MICRO_TURN);
  }

  /** Micro-turns kept now. */
  get size(): number {
    return Math.min(this.#next, this.#capacity);
  }

  /** Keeps a closed micro-turn's input, forgetting the oldest when full. */
  push(turn: MicroTurn): void {
    const at = this.#next % this.#capacity;
    this.#next++;
    this.#sessionId = turn.sessionId;
    this.#dmel.fill(0, at * DMEL_BYTES, (at + 1) * DMEL_BYTES)
      .set(turn.dmel.subarray(0, DMEL_BYTES), at * DMEL_BYTES);
    this.#indexes[at] = turn.index;
    this.#wallClockMs[at] = turn.wallClockMs;
    this.#flags[at] = turn.flags;
    this.#origins.set(
      turn.frameOrigins.subarray(0, FRAMES_PER_MICRO_TURN),
      at * FRAMES_PER_MICRO_TURN,
    );
    if (turn.patchCount > 0) {
      this.#frame = { index: turn.index, patchCount: turn.patchCount, patches: turn.patches };
    }
  }

  /** The kept micro-turns, oldest first, the newest camera frame on its own micro-turn. */
  turns(): MicroTurn[] {
    const size = this.size;
    const first = this.#next - size;
    return Array.from({ length: size }, (_, i) => {
      const at = (first + i) % this.#capacity;
      const index = this.#indexes[at];
      const frame = index === this.#frame?.index ? this.#frame : undefined;
      return {
        sessionId: this.#sessionId,
        index,
        wallClockMs: this.#wallClockMs[at],
        flags: this.#flags[at],
        dmelFrames: DMEL_FRAMES_PER_MICRO_TURN,
        dmel: this.#dmel.slice(at * DMEL_BYTES, (at + 1) * DMEL_BYTES),
        frameOrigins: this.#origins.slice(
          at * FRAMES_PER_MICRO_TURN,
          (at + 1) * FRAMES_PER_MICRO_TURN,
        ),
        lateMediaMs: [],
        text: "",
        patchCount: frame?.patchCount ?? 0,
        patches: frame?.patches ?? NO_BYTES,
      };
    });
  }
}
