/**
 * Assembles micro-turns: the on-time `dmel` frames of micro-turn k (media time
 * [200k, 200k + 200) ms) fill its twenty dMel rows, late frames are appended after them with
 * their own media times, text and the newest camera frame's patches join the micro-turn
 * open when they arrive, and the jitter
 * buffer's `turn_end` closes it. Flags say what the model should know: late audio inside,
 * concealed audio, or no input at all (a stall past the concealment bound).
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { FRAME_ORIGINS, type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";
import {
  AUDIO_FRAME_MS,
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";
import type { Emit, FrameStage } from "./frame_stage.ts";

const CODES_PER_FRAME = (DMEL_FRAMES_PER_MICRO_TURN / FRAMES_PER_MICRO_TURN) * DMEL_BINS;
const MISSING = FRAME_ORIGINS.indexOf("missing");
const NO_PATCHES = { count: 0, bytes: new Uint8Array(0) };

/** Turns `dmel`, `text` and `turn_end` frames into micro-turns. */
export class MicroTurnAssembler implements FrameStage<IngressFrame, MicroTurn> {
  readonly #sessionId: string;
  #onTime = new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS);
  #origins = new Uint8Array(FRAMES_PER_MICRO_TURN).fill(MISSING);
  #late: Uint8Array[] = [];
  #lateMediaMs: number[] = [];
  #text = "";
  #patches: { count: number; bytes: Uint8Array } = NO_PATCHES;

  /** @param sessionId the session every micro-turn belongs to */
  constructor(sessionId: string) {
    this.#sessionId = sessionId;
  }

  /** Collects a frame into the open micro-turn; `turn_end` emits it. */
  transform(frame: IngressFrame, emit: Emit<MicroTurn>): void {
    if (frame.type === "text") {
      this.#text += frame.text;
    } else if (frame.type === "patches") {
      this.#patches = frame;
    } else if (frame.type === "dmel" && frame.late) {
      this.#late.push(frame.codes);
      this.#lateMediaMs.push(frame.frameIndex * AUDIO_FRAME_MS);
    } else if (frame.type === "dmel") {
      const slot = frame.frameIndex % FRAMES_PER_MICRO_TURN;
      this.#onTime.set(frame.codes, slot * CODES_PER_FRAME);
      this.#origins[slot] = FRAME_ORIGINS.indexOf(frame.origin);
    } else if (frame.type === "turn_end") {
      emit(this.#close(frame.index, frame.closedAtMs));
    }
  }

  #close(index: number, closedAtMs: number): MicroTurn {
    const onTime = this.#onTime;
    const origins = this.#origins;
    const late = this.#late;
    let flags = 0;
    if (late.length > 0) flags |= MicroTurnFlags.LATE_AUDIO;
    if (origins.some((o) => FRAME_ORIGINS[o] === "concealed" || FRAME_ORIGINS[o] === "fec")) {
      flags |= MicroTurnFlags.CONCEALED_AUDIO;
    }
    if (origins.every((o) => o === MISSING) && late.length === 0) {
      flags |= MicroTurnFlags.INPUT_MISSING;
    }
    // The on-time rows go out as they are, unless late rows follow them: one buffer a
    // micro-turn, which lives until its output is back.
    let dmel = onTime;
    if (late.length > 0) {
      dmel = new Uint8Array(onTime.length + late.length * CODES_PER_FRAME);
      dmel.set(onTime);
      late.forEach((codes, i) => dmel.set(codes, onTime.length + i * CODES_PER_FRAME));
    }
    const turn: MicroTurn = {
      sessionId: this.#sessionId,
      index,
      wallClockMs: closedAtMs,
      flags,
      dmelFrames: dmel.length / DMEL_BINS,
      dmel,
      frameOrigins: origins,
      lateMediaMs: this.#lateMediaMs,
      text: this.#text,
      patchCount: this.#patches.count,
      patches: this.#patches.bytes,
    };
    this.#patches = NO_PATCHES;
    this.#onTime = dmel === onTime
      ? new Uint8Array(DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS)
      : onTime.fill(0);
    this.#origins = new Uint8Array(FRAMES_PER_MICRO_TURN).fill(MISSING);
    this.#late = [];
    this.#lateMediaMs = [];
    this.#text = "";
    return turn;
  }
}
