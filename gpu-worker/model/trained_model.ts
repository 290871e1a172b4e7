/**
 * Where the project's trained interaction model lives: trained in PyTorch by train/train.py on
 * generated conversations, exported to the model contract by train/export.py (float16 weights,
 * computed in float32). `deno task start` serves it; tests and benchmarks keep the seeded
 * reference models. docs/model-contract.md says how to train and export your own.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Path of the shipped trained model (models/interaction-trained.onnx). */
export const TRAINED_MODEL_PATH = fileURLToPath(
  new URL("../../models/interaction-trained.onnx", import.meta.url),
);
