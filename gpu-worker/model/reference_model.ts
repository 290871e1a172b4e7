/**
 * The reference interaction model, built as an ONNX graph by the project's own code with
 * deterministic weights from a seed, to the interaction contract (model_contract.ts).
 *
 * Architecture (the design's): each micro-turn appends 10 positions (one per 20 ms), fused
 * early from its dMel codes, camera frame, text and elapsed time (early_fusion.ts), into one
 * pre-norm causal transformer with rotary positions (ONNX Runtime's `RotaryEmbedding`, queries
 * and keys together) and queries, keys and values from one product. The key/value cache is the
 * runtime's, bound in place: each layer writes its new keys and values into the session slots'
 * rings and attends over them under a bias masking what a query may not see (ring_attention.ts:
 * `MultiHeadAttention` over keys stored by position, or operators over keys stored by feature).
 * Sessions in the step are gathered into slot order for attention and back; sessions not in
 * the step cost their ring's read, never a copy. Heads: text (byte logits) and
 * control (silent/speak/delegate) read each micro-turn's last position; the flow head turns
 * noise into each position's 320 samples with a fixed number of Euler steps of a learned
 * velocity field (flow matching, Lipman et al. 2022), unrolled in the graph.
 *
 * The weights are random: the model is for serving, testing and benchmarking, not talking.
 *
 * @module
 */
import { ELEMENT_TYPES, MICROSOFT_DOMAIN, OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import { RingAttention } from "./ring_attention.ts";
import { earlyFusion } from "./early_fusion.ts";
import {
  CONTROL_CLASSES,
  MODEL_CONTRACT_VERSION,
  POSITIONS_PER_MICRO_TURN,
  ROW_STATE,
  SLOT_STATE,
  TEXT_VOCABULARY,
  TURN_FLOATS,
  TURN_INTS,
} from "./model_contract.ts";
import { SeededLayers } from "./seeded_layers.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  PATCH_SIDE,
  PATCHES_PER_FRAME,
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../../protocol/media_format.ts";

/** Hyperparameters of the reference model. */
export interface ReferenceModelSize {
  /** Model width. */
  width: number;
  /** Transformer layers. */
  layers: number;
  /** Attention heads (width / heads is the head size, even). */
  heads: number;
  /** Feed-forward width. */
  feedForward: number;
  /** Positions a query attends to: the context window (a multiple of 10). */
  window: number;
  /** Ring positions beyond the window: the most one call may append (a multiple of 10). */
  headroom: number;
  /** Width of the hMLP stem's first level. */
  stemWidth: number;
  /** Width of the flow head's velocity network. */
  flowWidth: number;
  /** Euler steps of the flow head. */
  flowSteps: number;
}

/** Named sizes: `tiny` for tests (builds and loads in well under a second), `base` ~100M. */
export const REFERENCE_MODEL_SIZES = {
  tiny: {
    width: 64,
    layers: 2,
    heads: 4,
    feedForward: 256,
    window: 160,
    headroom: 80,
    stemWidth: 16,
    flowWidth: 128,
    flowSteps: 4,
  },
  base: {
    width: 768,
    layers: 13,
    heads: 12,
    feedForward: 3072,
    window: 1280,
    headroom: 160,
    stemWidth: 64,
    flowWidth: 1024,
    flowSteps: 4,
  },
} as const satisfies Record<string, ReferenceModelSize>;

/** A named size. */
export type ReferenceModelSizeName = keyof typeof REFERENCE_MODEL_SIZES;

/** A built model: its ONNX bytes and what it is. */
export interface BuiltModel {
  /** Serialized ONNX model. */
  bytes: Uint8Array;
  /** Model name for logs and the session row. */
  name: string;
  /** Learned parameter count. */
  parameters: number;
}

/** Options of {@linkcode buildReferenceModel}. */
export interface ReferenceModelOptions {
  /**
   * Element type of weights, activations and the cache: `float32` (default; every provider) or
   * `float16` (half the memory traffic on a GPU; the weights are the float32 draws, rounded).
   */
  precision?: "float32" | "float16";
  /** Overrides of the named size's hyperparameters (tests use a larger `headroom`). */
  overrides?: Partial<ReferenceModelSize>;
  /**
   * How attention is computed: `fused` (default), ONNX Runtime's `MultiHeadAttention`; or
   * `operators`, MatMul, Softmax and MatMul (the same function; for providers whose fused
   * kernel is slow at some sizes).
   */
  attention?: "fused" | "operators";
  /**
   * Weights of the transformer's attention projections and first feed-forward layer
   * block-quantized to 8 bits (ONNX Runtime's `MatMulNBits`: tensor cores through WebGPU on
   * GPUs with subgroup matrices); default the model's precision. The second feed-forward layer
   * stays at the model's precision (its 3072-deep product measured slower quantized).
   */
  weightBits?: 8;
}

/** Builds the reference model of `size` deterministically from `seed`. */
export function buildReferenceModel(
  sizeName: ReferenceModelSizeName = "tiny",
  seed = 1,
  options: ReferenceModelOptions = {},
): BuiltModel {
  const size: ReferenceModelSize = { ...REFERENCE_MODEL_SIZES[sizeName], ...options.overrides };
  const precision = options.precision ?? "float32";
  const attention = options.attention ?? "fused";
  const weightBits = options.weightBits;
  const { width: d, layers, heads, window } = size;
  const cacheLength = window + size.headroom;
  const headSize = d / heads;
  if (!Number.isInteger(headSize) || headSize % 2 !== 0) {
    throw new RangeError(`width ${d} / heads ${heads} must be an even integer`);
  }
  if (window % POSITIONS_PER_MICRO_TURN !== 0 || size.headroom % POSITIONS_PER_MICRO_TURN !== 0) {
    throw new RangeError(
      `window ${window} and headroom ${size.headroom} must be multiples of ${POSITIONS_PER_MICRO_TURN}`,
    );
  }
  if (size.headroom < POSITIONS_PER_MICRO_TURN) {
    throw new RangeError(`headroom ${size.headroom} must hold one micro-turn`);
  }
  const g = new OnnxGraphBuilder(`reference_interaction_model_${sizeName}`);
  const seeded = new SeededLayers(g, seed, "", precision);
  /** Casts a float32 tensor to the model's precision (no node when it already is). */
  const toModel = (x: string) =>
    precision === "float32" ? x : g.op("Cast", [x], { to: ELEMENT_TYPES[precision] });
  /** Casts a tensor of the model's precision to float32 (no node when it already is). */
  const toFloat32 = (x: string) =>
    precision === "float32" ? x : g.op("Cast", [x], { to: ELEMENT_TYPES.float32 });
  const matrix = seeded.matrix.bind(seeded);
  const vector = seeded.vector.bind(seeded);
  const linear = seeded.linear.bind(seeded);
  const silu = seeded.silu.bind(seeded);
  const layerNorm = (x: string) => seeded.layerNorm(x, d);
  const ints = (values: number[]) => seeded.ints(values);
  const scalar = seeded.scalar.bind(seeded);
  const float = seeded.float.bind(seeded);
  const shapeLike = seeded.shapeLike.bind(seeded);

  const turnInts = g.input("turn_ints", "int32", ["batch", "turns", TURN_INTS.size]);
  const turnFloats = g.input("turn_floats", "float32", ["batch", "turns", TURN_FLOATS.size]);
  const patches = g.input("patches", "uint8", [
    "images",
    PATCHES_PER_FRAME,
    PATCH_SIDE,
    PATCH_SIDE,
    3,
  ]);
  const rowState = g.input("row_state", "int32", ["batch", ROW_STATE.size]);
  const slotState = g.input("slot_state", "int32", ["slots", SLOT_STATE.size]);
  /** Columns [from, to) of `t`'s last axis. */
  const columns = (t: string, from: number, to: number) =>
    g.op("Slice", [t, ints([from]), ints([to]), ints([-1])]);
  /** Column `at` of `t`'s last axis, that axis dropped. */
  const column = (t: string, at: number) => g.op("Squeeze", [columns(t, at, at + 1), ints([-1])]);
  // The integer inputs are sliced as float32 (exact below 2^24), then cast back: ONNX Runtime's
  // WebGPU provider has no int32 Slice, and on the CPU each column would cross back to the device.
  const asFloat = (t: string) => g.op("Cast", [t], { to: ELEMENT_TYPES.float32 });
  const asInt = (t: string) => g.op("Cast", [t], { to: ELEMENT_TYPES.int32 });
  const turnIntsFloat = asFloat(turnInts);
  const rowStateFloat = asFloat(rowState);
  const slotStateFloat = asFloat(slotState);
  const codes = asInt(g.op("Reshape", [
    columns(turnIntsFloat, TURN_INTS.dmel, TURN_INTS.text),
    ints([0, 0, DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS]),
  ]));
  const text = asInt(columns(turnIntsFloat, TURN_INTS.text, TURN_INTS.imageIndex));
  const imageIndex = asInt(column(turnIntsFloat, TURN_INTS.imageIndex));
  const elapsed = column(turnFloats, TURN_FLOATS.elapsedSeconds);
  const noise = columns(turnFloats, TURN_FLOATS.noise, TURN_FLOATS.size);
  const position = asInt(column(rowStateFloat, ROW_STATE.position));
  const stepSlots = asInt(column(rowStateFloat, ROW_STATE.slot));
  const cacheHead = asInt(column(rowStateFloat, ROW_STATE.cacheHead));
  const slotRows = asInt(column(slotStateFloat, SLOT_STATE.row));
  const cacheNewest = asInt(column(slotStateFloat, SLOT_STATE.newest));
  const cacheFilled = asInt(column(slotStateFloat, SLOT_STATE.filled));
  // ---- Early fusion: the positions' embeddings ----------------------------------------
  let x = earlyFusion(g, seeded, { width: d, stemWidth: size.stemWidth, precision }, {
    codes,
    text,
    imageIndex,
    elapsed,
    patches,
  }); // [b, T, d]

  // ---- Rotary positions (float32, then the model's precision) ---------------------------
  const count = g.op("Gather", [g.op("Shape", [x]), scalar(1)]); // T, a scalar
  const steps = g.op("Range", [scalar(0), count, scalar(1)]); // [T]
  const stepsInt = g.op("Cast", [steps], { to: ELEMENT_TYPES.int32 });
  const absolute = g.op("Add", [g.op("Unsqueeze", [position, ints([1])]), stepsInt]); // [b, T]
  const inverseFrequencies = g.floats(
    "rope_inverse_frequencies",
    Array.from({ length: headSize / 2 }, (_, i) => Math.pow(10_000, (-2 * i) / headSize)),
  );
  const angles = g.op("Mul", [
    g.op("Unsqueeze", [g.op("Cast", [absolute], { to: 1 }), ints([-1])]),
    inverseFrequencies,
  ]); // [b, T, dh/2]
  // One row of angles per position of the call, [b * T, dh/2]: ONNX Runtime's RotaryEmbedding
  // with position id 0 reads position p's angles from row p (rotate-half, not interleaved).
  const cosRows = toModel(g.op("Reshape", [g.op("Cos", [angles]), ints([-1, headSize / 2])]));
  const sinRows = toModel(g.op("Reshape", [g.op("Sin", [angles]), ints([-1, headSize / 2])]));
  const firstPosition = g.ints("rotary_first_position", [0], [1]);
  /** Rotates [b, T, n * dh] (n heads side by side) by each position's angles. */
  const rotate = (t: string, n: number) =>
    g.op("Reshape", [
      g.node(
        "RotaryEmbedding",
        [g.op("Reshape", [t, ints([1, -1, n * headSize])]), firstPosition, cosRows, sinRows],
        {},
        1,
        MICROSOFT_DOMAIN,
      )[0],
      shapeLike(t, 0, 2, [n * headSize]),
    ]);
  const toHeads = (t: string) => g.op("Reshape", [t, ints([0, 0, heads, headSize])]); // [b, T, H, dh]

  // ---- The cache and attention over it ------------------------------------------------
  const rings = new RingAttention(g, seeded, {
    layers,
    heads,
    headSize,
    window,
    cacheLength,
    precision,
    attention,
  }, { count, steps: stepsInt, stepSlots, cacheHead, slotRows, cacheNewest, cacheFilled });
  const residualScale = 1 / Math.sqrt(2 * layers);

  // ---- Transformer ---------------------------------------------------------------------
  for (let layer = 0; layer < layers; layer++) {
    const h = layerNorm(x);
    // Queries, keys and values in one product: their three d x d draws side by side.
    const [wq, wk, wv] = [0, 1, 2].map(() => seeded.draw(d, d));
    const wqkv = new Float32Array(d * 3 * d);
    for (let row = 0; row < d; row++) {
      [wq, wk, wv].forEach((w, i) =>
        wqkv.set(w.subarray(row * d, (row + 1) * d), (3 * row + i) * d)
      );
    }
    const [queriesKeys, vd] = g.node(
      "Split",
      [seeded.project(h, wqkv, d, 3 * d, weightBits), ints([2 * d, d])],
      { axis: -1 },
      2,
    );
    // Queries and keys rotated together, as 2 x heads heads.
    const [qd, kd] = g.node("Split", [rotate(queriesKeys, 2 * heads), ints([d, d])], {
      axis: -1,
    }, 2);
    const q = toHeads(qd);
    const k = toHeads(kd);
    const v = toHeads(vd);
    const attendedSlots = rings.attend(layer, rings.toSlots(q), k, v);
    const attended = g.op("Gather", [attendedSlots, stepSlots], { axis: 0 }); // [b, T, d]
    x = g.op("Add", [
      x,
      seeded.project(attended, seeded.draw(d, d, residualScale), d, d, weightBits),
    ]);
    const m = layerNorm(x);
    const hidden = silu(linear(m, d, size.feedForward, 1, weightBits));
    x = g.op("Add", [x, linear(hidden, size.feedForward, d, residualScale)]);
  }
  x = layerNorm(x);

  // ---- Heads ---------------------------------------------------------------------------
  const perPosition = g.op("Reshape", [
    x,
    shapeLike(codes, 0, 2, [POSITIONS_PER_MICRO_TURN, d]),
  ]);
  const last = g.op("Gather", [perPosition, scalar(POSITIONS_PER_MICRO_TURN - 1)], { axis: 2 });
  const head = (classes: number, name: string) =>
    g.node(
      "Identity",
      [
        toFloat32(g.op("Add", [g.op("MatMul", [last, matrix(d, classes)]), vector(classes)])),
      ],
      {},
      [name],
    );
  head(TEXT_VOCABULARY, "text_logits");
  head(CONTROL_CLASSES.length, "control_logits");

  // Flow head: x_{t+1/K} = x_t + v(x_t, t, h) / K from noise, K Euler steps, weights shared.
  const condition = g.op("MatMul", [x, matrix(d, size.flowWidth)]); // [b, T, F]
  let sample = g.op("Reshape", [
    toModel(noise),
    shapeLike(codes, 0, 1, [-1, SAMPLES_PER_FRAME]),
  ]);
  const sampleWeights = matrix(SAMPLES_PER_FRAME, size.flowWidth);
  const timeWeights = vector(size.flowWidth, 0.5);
  const flowBias = vector(size.flowWidth);
  const velocityOut = matrix(size.flowWidth, SAMPLES_PER_FRAME, 0.5);
  for (let step = 0; step < size.flowSteps; step++) {
    const t = step / size.flowSteps;
    const z = g.op("Add", [
      g.op("Add", [g.op("MatMul", [sample, sampleWeights]), condition]),
      g.op("Add", [g.op("Mul", [timeWeights, float(t)]), flowBias]),
    ]);
    const velocity = g.op("MatMul", [silu(z), velocityOut]);
    sample = g.op("Add", [sample, g.op("Mul", [velocity, float(1 / size.flowSteps)])]);
  }
  g.node(
    "Reshape",
    [toFloat32(g.op("Tanh", [sample])), shapeLike(codes, 0, 2, [SAMPLES_PER_MICRO_TURN])],
    {},
    ["audio"],
  );

  g.output("audio", "float32", ["batch", "turns", SAMPLES_PER_MICRO_TURN]);
  g.output("text_logits", "float32", ["batch", "turns", TEXT_VOCABULARY]);
  g.output("control_logits", "float32", ["batch", "turns", CONTROL_CLASSES.length]);
  rings.declareOutputs();

  const name = `reference-${sizeName}-s${seed}${precision === "float16" ? "-fp16" : ""}${
    attention === "operators" ? "-ops" : ""
  }${weightBits ? `-w${weightBits}` : ""}`;
  const bytes = g.build({
    contract: MODEL_CONTRACT_VERSION,
    name,
    parameters: String(g.parameterCount),
    window: String(window),
    cache_length: String(cacheLength),
    heads: String(heads),
    key_layout: rings.keyLayout,
  });
  return { bytes, name, parameters: g.parameterCount };
}
