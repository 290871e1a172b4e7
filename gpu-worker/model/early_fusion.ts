/**
 * The reference model's early fusion: each micro-turn's inputs become its 10 positions'
 * embeddings, summed from
 * - dMel codes through a table per mel bin (one-hot x table, summed over bins), two 10 ms hops
 *   per position;
 * - the micro-turn's camera frame: 12 patches of 40x40x3 through an hMLP stem (Touvron et al.
 *   2022: a linear layer per 8x8 sub-patch, then one over the 5x5 grid of them), averaged;
 * - byte-level text through an embedding (mean of the micro-turn's bytes);
 * - elapsed wall time (log-scaled sinusoids), so the model knows how much time passed.
 *
 * @module
 */
import { ELEMENT_TYPES, type OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import { POSITIONS_PER_MICRO_TURN, TEXT_VOCABULARY } from "./model_contract.ts";
import type { SeededLayers } from "./seeded_layers.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  DMEL_LEVELS,
  PATCH_SIDE,
  PATCHES_PER_FRAME,
} from "../../protocol/media_format.ts";

/** Sub-patch side of the hMLP stem's first level (40 = 5 x 8). */
const SUB_PATCH = 8;
const GRID = PATCH_SIDE / SUB_PATCH;
const TIME_FREQUENCIES = 16;

/** The per-micro-turn tensors early fusion reads. */
export interface FusionInputs {
  /** dMel codes, int32 [b, m, 20, 80]. */
  codes: string;
  /** Text bytes, int32 [b, m, 32] (0 is padding). */
  text: string;
  /** Index of each micro-turn's frame in `patches` (past the last: none), int32 [b, m]. */
  imageIndex: string;
  /** Seconds since the session began, float32 [b, m]. */
  elapsed: string;
  /** The call's camera frames, uint8 [images, 12, 40, 40, 3]. */
  patches: string;
}

/**
 * The positions' embeddings, [b, m * 10, width], in `precision` (the hMLP stem `stemWidth`
 * wide).
 */
export function earlyFusion(
  g: OnnxGraphBuilder,
  seeded: SeededLayers,
  { width: d, stemWidth, precision }: {
    width: number;
    stemWidth: number;
    precision: "float32" | "float16";
  },
  { codes, text, imageIndex, elapsed, patches }: FusionInputs,
): string {
  const matrix = seeded.matrix.bind(seeded);
  const linear = seeded.linear.bind(seeded);
  const silu = seeded.silu.bind(seeded);
  const ints = (values: number[]) => seeded.ints(values);
  const float = seeded.float.bind(seeded);
  const shapeLike = seeded.shapeLike.bind(seeded);
  const toModel = (x: string) =>
    precision === "float32" ? x : g.op("Cast", [x], { to: ELEMENT_TYPES[precision] });
  // dMel: one-hot codes [b, m, 20, 80 * 16] x table [1280, d] sums a row per bin. The one-hot
  // is an int32 comparison (ONNX `OneHot` has no GPU kernel in ONNX Runtime's WebGPU provider).
  const levels = g.int32s("dmel_levels", Array.from({ length: DMEL_LEVELS }, (_, i) => i));
  const oneHot = g.op("Cast", [g.op("Equal", [g.op("Unsqueeze", [codes, ints([-1])]), levels])], {
    to: ELEMENT_TYPES[precision],
  });
  const flatCodes = g.op("Reshape", [
    oneHot,
    shapeLike(codes, 0, 2, [DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS * DMEL_LEVELS]),
  ]);
  const hops = g.op("MatMul", [flatCodes, matrix(DMEL_BINS * DMEL_LEVELS, d)]);
  const pairs = g.op("Reshape", [hops, shapeLike(codes, 0, 2, [POSITIONS_PER_MICRO_TURN, 2 * d])]);
  const audioEmbedding = linear(pairs, 2 * d, d); // [b, m, 10, d]

  // Text: mean embedding of the micro-turn's bytes (0 is padding).
  const byteRows = g.op("Gather", [matrix(TEXT_VOCABULARY, d), text]); // [b, m, 32, d]
  const present = g.op("Cast", [g.op("Greater", [text, g.int32s("text_padding_byte", [0], [])])], {
    to: ELEMENT_TYPES[precision],
  });
  const masked = g.op("Mul", [byteRows, g.op("Unsqueeze", [present, ints([-1])])]);
  const byteSum = g.op("ReduceSum", [masked, ints([2])], { keepdims: 0 });
  const byteCount = g.op("ReduceSum", [present, ints([2])], { keepdims: 1 });
  const textEmbedding = g.op("Div", [byteSum, g.op("Max", [byteCount, float(1)])]);

  // Image: hMLP stem over 8x8 sub-patches, then over the 5x5 grid; mean of the 12 patches;
  // each micro-turn takes its frame's (index `images`, past the last frame, is a zero row).
  const pixels = g.op("Mul", [
    g.op("Cast", [patches], { to: ELEMENT_TYPES[precision] }),
    float(1 / 255),
  ]);
  const subGrid = g.op("Reshape", [pixels, ints([-1, GRID, SUB_PATCH, GRID, SUB_PATCH, 3])]);
  const subPatches = g.op("Reshape", [
    g.op("Transpose", [subGrid], { perm: [0, 1, 3, 2, 4, 5] }),
    ints([-1, GRID * GRID, SUB_PATCH * SUB_PATCH * 3]),
  ]);
  const level1 = silu(linear(subPatches, SUB_PATCH * SUB_PATCH * 3, stemWidth));
  const level2 = linear(
    g.op("Reshape", [level1, ints([-1, GRID * GRID * stemWidth])]),
    GRID * GRID * stemWidth,
    d,
  );
  const perPatch = g.op("Reshape", [level2, shapeLike(patches, 0, 1, [PATCHES_PER_FRAME, d])]);
  const perImage = g.op("ReduceMean", [perPatch], { axes: [1], keepdims: 0 }); // [images, d]
  const imageEmbedding = g.op("Gather", [
    g.op("Concat", [
      perImage,
      g.op("Mul", [
        g.op("Slice", [perImage, ints([0]), ints([1])]),
        float(0),
      ]),
    ], { axis: 0 }),
    imageIndex,
  ], { axis: 0 }); // [b, m, d]

  // Time: log-scaled sinusoids of elapsed seconds.
  const logTime = g.op("Log", [
    g.op("Add", [g.op("Unsqueeze", [elapsed, ints([-1])]), g.floats("one_second", [1], [])]),
  ]);
  const phases = g.op("Mul", [
    logTime,
    g.floats(
      "time_frequencies",
      Array.from({ length: TIME_FREQUENCIES }, (_, i) => Math.pow(2, i / 2)),
    ),
  ]);
  const timeFeatures = g.op("Concat", [g.op("Sin", [phases]), g.op("Cos", [phases])], {
    axis: -1,
  });
  const timeEmbedding = g.op("MatMul", [toModel(timeFeatures), matrix(2 * TIME_FREQUENCIES, d)]);

  const perTurn = g.op("Add", [g.op("Add", [textEmbedding, imageEmbedding]), timeEmbedding]);
  const fused = g.op("Add", [audioEmbedding, g.op("Unsqueeze", [perTurn, ints([2])])]);
  return g.op("Reshape", [fused, shapeLike(codes, 0, 1, [-1, d])]);
}
