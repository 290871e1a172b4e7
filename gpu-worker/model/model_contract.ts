/**
 * The interaction-model contract (`interaction-v3`): the names, element types and shapes the
 * worker feeds and reads. Any ONNX file with these inputs and outputs can be served; the
 * project's reference model (reference_model.ts) is one. docs/model-contract.md explains
 * every tensor.
 *
 * The key/value cache lives with the runtime, in the execution provider's memory, for the life
 * of the worker: one `past_keys_{l}`/`past_values_{l}` tensor per layer holding every session
 * slot's ring of `cache_length` positions per head, heads-first (`[slots * heads * cache_length,
 * head_size]`, row `(slot * heads + head) * cache_length + ring index`: the layout fused
 * attention reads as `[slots, heads, cache_length, head_size]` without rearranging it). The
 * model writes a step's new keys and values into the rings itself and returns the same tensors
 * as `present_keys_{l}`/`present_values_{l}`; the runtime binds each present to its past's
 * buffer, so the write happens in place and no step copies a cache. A step's `batch` rows are
 * the sessions it advances; `slots` is how many slots the bound cache holds (the sessions not
 * in the step keep their rings untouched).
 *
 * Symbolic dimensions: `batch` sessions, `turns` micro-turns per session in this call (1 when
 * streaming; more for a prefill), `positions` = 10 x turns (one position per 20 ms), `images`
 * camera frames in the call (at least 1: a blank one when no micro-turn brings a frame), `slots`,
 * `cache_rows` = slots x heads x cache_length. The head size is read from the model's cache
 * inputs; `heads`, `window` (positions a query attends to) and `cache_length` (ring positions
 * per slot, at least window + 10) from its metadata. Integer inputs are int32 (GPU providers
 * have no native 64-bit integers).
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
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../../protocol/media_format.ts";

/** Contract version, stored in the model's metadata as `contract`. */
export const MODEL_CONTRACT_VERSION = "interaction-v3";

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

/** Inputs, in the order docs/model-contract.md lists them. */
export const MODEL_INPUTS: readonly TensorSpec[] = [
  {
    name: "dmel_codes",
    type: "int32",
    dims: ["batch", "turns", DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS],
  },
  { name: "text_bytes", type: "int32", dims: ["batch", "turns", TEXT_BYTES_PER_MICRO_TURN] },
  {
    name: "patches",
    type: "uint8",
    dims: ["images", PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3],
  },
  { name: "image_index", type: "int32", dims: ["batch", "turns"] },
  { name: "elapsed_s", type: "float32", dims: ["batch", "turns"] },
  { name: "position", type: "int32", dims: ["batch"] },
  { name: "step_slots", type: "int32", dims: ["batch"] },
  { name: "cache_head", type: "int32", dims: ["batch"] },
  { name: "slot_rows", type: "int32", dims: ["slots"] },
  { name: "cache_newest", type: "int32", dims: ["slots"] },
  { name: "cache_filled", type: "int32", dims: ["slots"] },
  { name: "past_keys_{layer}", type: "cache", dims: KV },
  { name: "past_values_{layer}", type: "cache", dims: KV },
  {
    name: "noise",
    type: "float32",
    dims: ["batch", "turns", POSITIONS_PER_MICRO_TURN, SAMPLES_PER_FRAME],
  },
];

/** Outputs. */
export const MODEL_OUTPUTS: readonly TensorSpec[] = [
  { name: "audio", type: "float32", dims: ["batch", "turns", SAMPLES_PER_MICRO_TURN] },
  { name: "text_logits", type: "float32", dims: ["batch", "turns", TEXT_VOCABULARY] },
  { name: "control_logits", type: "float32", dims: ["batch", "turns", CONTROL_CLASSES.length] },
  { name: "present_keys_{layer}", type: "cache", dims: KV },
  { name: "present_values_{layer}", type: "cache", dims: KV },
];

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
}

/** Positions one call may append to a session: what the ring holds beyond the window. */
export function maxPositionsPerCall(geometry: CacheGeometry): number {
  return geometry.cacheLength - geometry.window;
}
