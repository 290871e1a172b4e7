/**
 * The interaction-model contract (`interaction-v4`): the names, element types and shapes the
 * worker feeds and reads. Any ONNX file with these inputs and outputs can be served; the
 * project's reference model (reference_model.ts) is one. docs/model-contract.md explains
 * every tensor.
 *
 * The key/value cache lives with the runtime, in the execution provider's memory, for the life
 * of the worker: one `past_keys_{l}`/`past_values_{l}` tensor per layer holding every session
 * slot's ring of `cache_length` positions per head. Values are stored a position per row,
 * heads-first (`[slots * heads * cache_length, head_size]`, row
 * `(slot * heads + head) * cache_length + ring index`: the layout fused attention reads as
 * `[slots, heads, cache_length, head_size]` without rearranging it). Keys are stored the same
 * way (`key_layout` "positions", the only layout of `interaction-v3`) or a feature per row
 * (`key_layout` "features": `[slots, heads * head_size, cache_length]`, the layout a
 * queries x keys product reads without transposing it). The model writes a step's new keys and
 * values into the rings itself and returns the same tensors as
 * `present_keys_{l}`/`present_values_{l}`; the runtime binds each present to its past's
 * buffer, so the write happens in place and no step copies a cache. A step's `batch` rows are
 * the sessions it advances; `slots` is how many slots the bound cache holds (the sessions not
 * in the step keep their rings untouched).
 *
 * Symbolic dimensions: `batch` sessions, `turns` micro-turns per session in this call (1 when
 * streaming; more for a prefill), `positions` = 10 x turns (one position per 20 ms), `images`
 * camera frames in the call (at least 1: a blank one when no micro-turn brings a frame), `slots`,
 * `cache_rows` = slots x heads x cache_length. The head size is read from the model's cache
 * inputs; `heads`, `window` (positions a query attends to), `cache_length` (ring positions
 * per slot, at least window + 10) and `key_layout` (default "positions") from its metadata.
 * Integer inputs are int32 (GPU providers have no native 64-bit integers). A step's small
 * inputs travel packed in four tensors ({@linkcode TURN_INTS}, {@linkcode TURN_FLOATS},
 * {@linkcode ROW_STATE}, {@linkcode SLOT_STATE} name their columns): a GPU provider pays a
 * fixed cost per input it copies to the device, not per byte.
 *
 * @module
 */
import type { OnnxDim, OnnxElementType } from "./onnx_graph_builder.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
  PATCH_SIDE,
  PATCHES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../../protocol/media_format.ts";

/** Contract version, stored in the model's metadata as `contract`. */
export const MODEL_CONTRACT_VERSION = "interaction-v4";

/**
 * Contract versions of the model files this worker loads: `interaction-v3` is this contract
 * with keys stored by position only.
 */
export const LOADABLE_MODEL_CONTRACTS: readonly string[] = [
  "interaction-v3",
  MODEL_CONTRACT_VERSION,
];

/** How a model stores its key rings (metadata `key_layout`). */
export type KeyLayout = "positions" | "features";

/** Positions a micro-turn appends to the context: one per 20 ms audio frame. */
export const POSITIONS_PER_MICRO_TURN = FRAMES_PER_MICRO_TURN;

/** UTF-8 bytes of user text one micro-turn carries to the model. */
export const TEXT_BYTES_PER_MICRO_TURN = 32;

/** Size of the text head's vocabulary (bytes). */
export const TEXT_VOCABULARY = 256;

/** The control head's classes, in logit order. */
export const CONTROL_CLASSES = ["silent", "speak", "delegate"] as const;

/** One tensor of the contract. A dim of `"cache:…"` is fixed by the model and read from it. */
export interface TensorSpec {
  /** Tensor name; `{layer}` stands for 0, 1, … one tensor per layer. */
  name: string;
  /** Element type; `"cache"` is the cache's own (float32 or float16, the same for every layer). */
  type: OnnxElementType | "cache";
  /** Shape: numbers are fixed; strings are symbolic; `"cache:N"` is fixed by the model. */
  dims: OnnxDim[];
}

const KV: OnnxDim[] = ["cache_rows", "cache:head_size"];
const KEYS_BY_FEATURE: OnnxDim[] = ["slots", "cache:key_features", "cache:cache_length"];

const DMEL_CODES = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;

/**
 * Columns of `turn_ints` (int32, one row per micro-turn): its 20 x 80 dMel codes (frame-major),
 * its text bytes (0-padded) and the index of its camera frame in `patches` (`images` for none).
 */
export const TURN_INTS = {
  dmel: 0,
  text: DMEL_CODES,
  imageIndex: DMEL_CODES + TEXT_BYTES_PER_MICRO_TURN,
  size: DMEL_CODES + TEXT_BYTES_PER_MICRO_TURN + 1,
} as const;

/**
 * Columns of `turn_floats` (float32, one row per micro-turn): seconds since the session began,
 * then the flow head's starting noise, 10 frames x 320 samples.
 */
export const TURN_FLOATS = {
  elapsedSeconds: 0,
  noise: 1,
  size: 1 + SAMPLES_PER_MICRO_TURN,
} as const;

/**
 * Columns of `row_state` (int32, one row per session in the step): the absolute position of its
 * first new position, its cache slot, and the ring index its first new position is written at.
 */
export const ROW_STATE = { position: 0, slot: 1, cacheHead: 2, size: 3 } as const;

/**
 * Columns of `slot_state` (int32, one row per bound slot): its batch row (`batch` when it is not
 * in the step), its newest ring index and its filled ring positions after this step's write.
 */
export const SLOT_STATE = { row: 0, newest: 1, filled: 2, size: 3 } as const;

/** Inputs, in the order docs/model-contract.md lists them, for a model of `keyLayout`. */
export function modelInputs(keyLayout: KeyLayout = "positions"): readonly TensorSpec[] {
  return [
    { name: "turn_ints", type: "int32", dims: ["batch", "turns", TURN_INTS.size] },
    { name: "turn_floats", type: "float32", dims: ["batch", "turns", TURN_FLOATS.size] },
    {
      name: "patches",
      type: "uint8",
      dims: ["images", PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3],
    },
    { name: "row_state", type: "int32", dims: ["batch", ROW_STATE.size] },
    { name: "slot_state", type: "int32", dims: ["slots", SLOT_STATE.size] },
    { name: "past_keys_{layer}", type: "cache", dims: keyDims(keyLayout) },
    { name: "past_values_{layer}", type: "cache", dims: KV },
  ];
}

/** Outputs, for a model of `keyLayout`. */
export function modelOutputs(keyLayout: KeyLayout = "positions"): readonly TensorSpec[] {
  return [
    { name: "audio", type: "float32", dims: ["batch", "turns", SAMPLES_PER_MICRO_TURN] },
    { name: "text_logits", type: "float32", dims: ["batch", "turns", TEXT_VOCABULARY] },
    { name: "control_logits", type: "float32", dims: ["batch", "turns", CONTROL_CLASSES.length] },
    { name: "present_keys_{layer}", type: "cache", dims: keyDims(keyLayout) },
    { name: "present_values_{layer}", type: "cache", dims: KV },
  ];
}

function keyDims(keyLayout: KeyLayout): OnnxDim[] {
  return keyLayout === "features" ? KEYS_BY_FEATURE : KV;
}

/** The name of a per-layer tensor. */
export function layerTensorName(template: string, layer: number): string {
  return template.replace("{layer}", String(layer));
}

/** The key/value cache geometry a model declares. */
export interface CacheGeometry {
  /** Transformer layers. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Positions a query attends to: itself and the `window - 1` before it (a multiple of 10). */
  window: number;
  /** Ring positions per session slot: the window plus room for one call's new positions. */
  cacheLength: number;
  /** Size of one head's key or value. */
  headSize: number;
  /** Element type of the cache. */
  cacheType: "float32" | "float16";
  /** How the key rings are stored. */
  keyLayout: KeyLayout;
}

/** Dimensions of one layer's key tensor for `slots` session slots. */
export function keyTensorDims(geometry: CacheGeometry, slots: number): number[] {
  const { heads, headSize, cacheLength } = geometry;
  return geometry.keyLayout === "features"
    ? [slots, heads * headSize, cacheLength]
    : [slots * heads * cacheLength, headSize];
}

/** Dimensions of one layer's value tensor for `slots` session slots. */
export function valueTensorDims(geometry: CacheGeometry, slots: number): number[] {
  return [slots * geometry.heads * geometry.cacheLength, geometry.headSize];
}

/** Positions one call may append to a session: what the ring holds beyond the window. */
export function maxPositionsPerCall(geometry: CacheGeometry): number {
  return geometry.cacheLength - geometry.window;
}
