/**
 * A step's micro-turns as the rows the model reads and writes: what a session brings
 * ({@linkcode TurnInput}), how it is written into a row of the packed input
 * (gpu-worker/model/step_packing.ts) with its session's ring state, how each bound slot's
 * `slot_state` row is set, and how a row of the packed output becomes a {@linkcode TurnOutput}.
 * Shared by the steps of any shape (gpu-worker/interaction_model.ts) and the fixed-shape ones
 * (gpu-worker/static_steps.ts).
 *
 * @module
 */
import {
  CONTROL_CLASSES,
  ROW_STATE,
  SLOT_STATE,
  TEXT_BYTES_PER_MICRO_TURN,
  TEXT_VOCABULARY,
  TURN_FLOATS,
  TURN_INTS,
} from "./model/model_contract.ts";
import { PACKED_OUTPUT, PACKED_TURN, type PackedTurnLayout } from "./model/step_packing.ts";
import { flowNoiseBankRow } from "./flow_noise.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  PATCH_BYTES,
  PATCHES_PER_FRAME,
} from "../protocol/media_format.ts";
import type { ControlAction } from "../protocol/worker_link.ts";

/** One micro-turn of input. */
export interface TurnInput {
  /** dMel codes: at least `DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS` bytes (extra are ignored). */
  dmel: Uint8Array;
  /** Up to `TEXT_BYTES_PER_MICRO_TURN` UTF-8 bytes of user text. */
  text: Uint8Array;
  /** The micro-turn's camera frame as `PATCHES_PER_FRAME` patches, or none. */
  patches?: Uint8Array;
  /** Wall-clock seconds since the session started. */
  elapsedSeconds: number;
  /** The flow head's starting noise: `SAMPLES_PER_MICRO_TURN` values. */
  noise: Float32Array;
}

/** One session's share of a step. */
export interface SessionStep {
  /** The session's cache slot. */
  slot: number;
  /** Micro-turns to append (every session of a batch must bring the same number). */
  turns: TurnInput[];
}

/** What one micro-turn produced. */
export interface TurnOutput {
  /** 200 ms of 16 kHz audio in [-1, 1]. */
  audio: Float32Array;
  /** The text head's chosen byte (0: no text). */
  textByte: number;
  /** The control head's decision. */
  control: ControlAction;
}

/** One session's result of a step. */
export interface SessionStepOutput {
  /** Per micro-turn. */
  turns: TurnOutput[];
  /**
   * Whether the session's window is now full (older context slides out); false when its slot
   * was emptied while the step ran.
   */
  contextFull: boolean;
}

/** Bytes of one camera frame's patches. */
export const FRAME_BYTES = PATCHES_PER_FRAME * PATCH_BYTES;
const DMEL_SIZE = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;

/** Whether a micro-turn brings a whole camera frame. */
export function hasFrame(turn: TurnInput): turn is TurnInput & { patches: Uint8Array } {
  return turn.patches?.length === FRAME_BYTES;
}

/**
 * Writes micro-turn `turn` into packed input row `row` of `layout`, with its session's ring
 * state in `cache` before the step (slot `slot`) and the index of its frame (or of none:
 * `images`). A banked layout needs the turn's noise to be a row of the bank
 * ({@linkcode flowNoiseBankRow}).
 */
export function writeTurnRow(
  packed: Float32Array,
  row: number,
  turn: TurnInput,
  cache: KvCacheSlots,
  slot: number,
  imageIndex: number,
  layout: PackedTurnLayout = PACKED_TURN,
): void {
  const at = row * layout.size;
  const ints = at + layout.ints;
  packed.set(turn.dmel.subarray(0, DMEL_SIZE), ints + TURN_INTS.dmel);
  packed.set(turn.text.subarray(0, TEXT_BYTES_PER_MICRO_TURN), ints + TURN_INTS.text);
  packed[ints + TURN_INTS.imageIndex] = imageIndex;
  const floats = at + layout.floats;
  packed[floats + TURN_FLOATS.elapsedSeconds] = turn.elapsedSeconds;
  if (layout.noiseBank) {
    const bankRow = flowNoiseBankRow(turn.noise);
    if (bankRow === undefined) throw new RangeError("the micro-turn's noise is not from the bank");
    packed[floats + 1] = bankRow;
  } else {
    packed.set(turn.noise, floats + TURN_FLOATS.noise);
  }
  writeRowState(packed, row, cache, slot, layout);
}

/** Writes slot `slot`'s ring state before the step into packed input row `row` of `layout`. */
export function writeRowState(
  packed: Float32Array,
  row: number,
  cache: KvCacheSlots,
  slot: number,
  layout: PackedTurnLayout = PACKED_TURN,
): void {
  const at = row * layout.size + layout.rowState;
  packed[at + ROW_STATE.position] = cache.position(slot);
  packed[at + ROW_STATE.slot] = slot;
  packed[at + ROW_STATE.cacheHead] = cache.head(slot);
}

/**
 * Sets bound slot `slot`'s `slot_state` row: its batch row, and its newest ring index and
 * filled ring positions once a step has written `positions` more of them (0: not in the step).
 */
export function writeSlotState(
  slotState: Int32Array,
  slot: number,
  row: number,
  cache: KvCacheSlots,
  positions: number,
): void {
  const { cacheLength } = cache.geometry;
  const at = slot * SLOT_STATE.size;
  slotState[at + SLOT_STATE.row] = row;
  slotState[at + SLOT_STATE.newest] = (cache.head(slot) + positions + cacheLength - 1) %
    cacheLength;
  slotState[at + SLOT_STATE.filled] = Math.min(cacheLength, cache.ringFilled(slot) + positions);
}

/** The micro-turn output of packed output row `row`. */
export function readTurnRow(outputs: Float32Array, row: number): TurnOutput {
  const at = row * PACKED_OUTPUT.size;
  return {
    audio: outputs.slice(at + PACKED_OUTPUT.audio, at + PACKED_OUTPUT.textLogits),
    textByte: argmax(outputs, at + PACKED_OUTPUT.textLogits, TEXT_VOCABULARY),
    control: CONTROL_CLASSES[
      argmax(outputs, at + PACKED_OUTPUT.controlLogits, CONTROL_CLASSES.length)
    ],
  };
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}
