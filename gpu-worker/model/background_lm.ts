/**
 * The reference background model: a small causal byte-level language model built as an ONNX
 * graph by the project's own code (deterministic weights from a seed), served by the worker
 * behind an OpenAI-compatible `/v1/chat/completions` endpoint so the system works with no
 * external service and the chat-completions runner is tested against a real server.
 *
 * Input `tokens` int64 [1, T] (bytes, T <= context); output `logits` float32 [1, 256], the
 * next byte's. Architecture: byte embedding plus fixed sinusoidal positions, pre-norm causal
 * transformer layers, a byte head on the last position. Each token recomputes the (short)
 * sequence; there is no cache: background answers are short and off the real-time path.
 *
 * @module
 */
import { OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import { SeededLayers } from "./seeded_layers.ts";

/** Hyperparameters of the background model. */
export interface BackgroundLmSize {
  /** Model width. */
  width: number;
  /** Layers. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Longest input in bytes. */
  context: number;
}

/** The default size: small enough to build in milliseconds and answer in real time on CPU. */
export const BACKGROUND_LM_SIZE: BackgroundLmSize = {
  width: 96,
  layers: 2,
  heads: 4,
  context: 256,
};

/** Builds the background model; returns its ONNX bytes. */
export function buildBackgroundLm(
  size: BackgroundLmSize = BACKGROUND_LM_SIZE,
  seed = 7,
): { bytes: Uint8Array; parameters: number; context: number } {
  const { width: d, layers, heads, context } = size;
  const headSize = d / heads;
  const g = new OnnxGraphBuilder("reference_background_lm");
  const seeded = new SeededLayers(g, seed, "lm_");
  const matrix = seeded.matrix.bind(seeded);
  const ints = seeded.ints.bind(seeded);
  const float = seeded.float.bind(seeded);
  const layerNorm = (x: string) => seeded.layerNorm(x, d);

  const tokens = g.input("tokens", "int64", [1, "length"]);
  const length = g.op("Gather", [g.op("Shape", [tokens]), ints([1], [])]);
  const steps = g.op("Range", [ints([0], []), length, ints([1], [])]);
  const positions = g.floats(
    "lm_positions",
    Array.from({ length: context * d }, (_, i) => {
      const p = Math.floor(i / d);
      const k = i % d;
      const angle = p / Math.pow(10_000, (2 * Math.floor(k / 2)) / d);
      return k % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }),
    [context, d],
  );
  let x = g.op("Add", [
    g.op("Gather", [matrix(256, d), tokens]), // [1, T, d]
    g.op("Unsqueeze", [g.op("Gather", [positions, steps]), ints([0])]),
  ]);
  const future = g.op("Less", [
    g.op("Unsqueeze", [steps, ints([1])]),
    g.op("Unsqueeze", [steps, ints([0])]),
  ]);
  const causal = g.op("Where", [future, float(-1e9), float(0)]);
  const toHeads = (t: string) =>
    g.op("Transpose", [g.op("Reshape", [t, ints([0, 0, heads, headSize])])], {
      perm: [0, 2, 1, 3],
    });
  for (let layer = 0; layer < layers; layer++) {
    const h = layerNorm(x);
    const q = toHeads(g.op("MatMul", [h, matrix(d, d)]));
    const k = toHeads(g.op("MatMul", [h, matrix(d, d)]));
    const v = toHeads(g.op("MatMul", [h, matrix(d, d)]));
    const scores = g.op("Add", [
      g.op("Mul", [
        g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]),
        float(1 / Math.sqrt(headSize)),
      ]),
      causal,
    ]);
    const attended = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), v]);
    const merged = g.op("Reshape", [
      g.op("Transpose", [attended], { perm: [0, 2, 1, 3] }),
      ints([0, 0, d]),
    ]);
    x = g.op("Add", [x, g.op("MatMul", [merged, matrix(d, d, 0.5)])]);
    const m = layerNorm(x);
    const hidden = g.op("MatMul", [m, matrix(d, 4 * d)]);
    const activated = g.op("Mul", [hidden, g.op("Sigmoid", [hidden])]);
    x = g.op("Add", [x, g.op("MatMul", [activated, matrix(4 * d, d, 0.5)])]);
  }
  const last = g.op("Gather", [
    layerNorm(x),
    g.op("Sub", [length, ints([1], [])]),
  ], { axis: 1 }); // [1, d]
  g.node("MatMul", [last, matrix(d, 256)], {}, ["logits"]);
  g.output("logits", "float32", [1, 256]);
  return {
    bytes: g.build({ name: "reference-background-lm" }),
    parameters: g.parameterCount,
    context,
  };
}
