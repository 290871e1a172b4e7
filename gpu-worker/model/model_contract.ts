/**
 * The input/output contract between the worker runtime and an interaction model. The
 * reference model is built to it, any exported model with the same names, element types and
 * shapes drops in, and a model that differs is refused at load (see interaction_model.ts).
 * docs/model-contract.md explains every tensor.
 *
 * @module
 */
import type { OnnxDim, OnnxElementType } from "./onnx_graph_builder.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_MICRO_TURN,
} from "../../protocol/media_format.ts";

/** Contract version, recorded in the model's metadata as `contract`. */
export const MODEL_CONTRACT_VERSION = "recurrent-v0";

/** Text bytes a model consumes per micro-turn; longer input spills into later micro-turns. */
export const TEXT_BYTES_PER_MICRO_TURN = 32;

/** Text vocabulary: one token per byte value. Token 0 means "no text". */
export const TEXT_VOCABULARY = 256;

/** Control head classes, in logit order. */
export const CONTROL_CLASSES = ["silent", "speak", "delegate"] as const;

/** One tensor of the contract. `state` is the model's own state width (from metadata). */
export interface TensorSpec {
  /** Tensor name in the graph. */
  name: string;
  /** Element type. */
  type: OnnxElementType;
  /** Shape; `"batch"` is the symbolic batch dimension, `"state"` the state width. */
  dims: OnnxDim[];
}

/** The model's inputs, in order. */
export const MODEL_INPUTS: readonly TensorSpec[] = [
  { name: "dmel_codes", type: "int64", dims: ["batch", DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS] },
  { name: "text_bytes", type: "int64", dims: ["batch", TEXT_BYTES_PER_MICRO_TURN] },
  { name: "elapsed_s", type: "float32", dims: ["batch", 1] },
  { name: "state", type: "float32", dims: ["batch", "state"] },
];

/** The model's outputs, in order. */
export const MODEL_OUTPUTS: readonly TensorSpec[] = [
  { name: "audio", type: "float32", dims: ["batch", SAMPLES_PER_MICRO_TURN] },
  { name: "text_logits", type: "float32", dims: ["batch", TEXT_VOCABULARY] },
  { name: "control_logits", type: "float32", dims: ["batch", CONTROL_CLASSES.length] },
  { name: "state_out", type: "float32", dims: ["batch", "state"] },
];
