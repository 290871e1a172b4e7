/**
 * The interaction-model contract (`interaction-v1`): the names, element types and shapes the
 * worker feeds and reads. Any ONNX file with these inputs and outputs can be served; the
 * project's reference model (reference_model.ts) is one. docs/model-contract.md explains
 * every tensor.
 *
 * Symbolic dimensions: `batch` sessions, `turns` micro-turns per session in this call (1 when
 * streaming; more for a prefill), `positions` = 10 x turns (one position per 20 ms), `window`
 * cached positions. The cache comes as one `past_keys_{l}`/`past_values_{l}` pair per layer
 * (separate inputs, so the model reads each layer's cache where it lies instead of slicing one
 * big tensor, which costs a copy of the whole cache per step); its fixed dimensions (layers,
 * heads, window, head size) are read from the model.
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
export const MODEL_CONTRACT_VERSION = "interaction-v1";

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
  /** Element type. */
  type: OnnxElementType;
  /** Shape: numbers are fixed; strings are symbolic; `"cache:N"` is fixed by the model. */
  dims: OnnxDim[];
}

const KV: OnnxDim[] = ["batch", "cache:heads", "cache:window", "cache:head_size"];
const NEW_KV: OnnxDim[] = [
  "batch",
  "cache:layers",
  "cache:heads",
  "positions",
  "cache:head_size",
];

/** Inputs, in the order docs/model-contract.md lists them. */
export const MODEL_INPUTS: readonly TensorSpec[] = [
  {
    name: "dmel_codes",
    type: "int64",
    dims: ["batch", "turns", DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS],
  },
  { name: "text_bytes", type: "int64", dims: ["batch", "turns", TEXT_BYTES_PER_MICRO_TURN] },
  {
    name: "patches",
    type: "uint8",
    dims: ["batch", "turns", PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3],
  },
  { name: "image_present", type: "float32", dims: ["batch", "turns"] },
  { name: "elapsed_s", type: "float32", dims: ["batch", "turns"] },
  { name: "position", type: "int64", dims: ["batch"] },
  { name: "past_keys_{layer}", type: "float32", dims: KV },
  { name: "past_values_{layer}", type: "float32", dims: KV },
  { name: "past_mask", type: "float32", dims: ["batch", "cache:window"] },
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
  { name: "new_keys", type: "float32", dims: NEW_KV },
  { name: "new_values", type: "float32", dims: NEW_KV },
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
  /** Cached positions (a multiple of 10). */
  window: number;
  /** Size of one head's key or value. */
  headSize: number;
}
