/**
 * The building blocks both project-built models (the interaction model and the background LM)
 * make their graphs from: seeded learned weights (uniform, variance 1/fan-in), constants, and
 * the small layers they share (linear, SiLU, layer norm), on one {@linkcode OnnxGraphBuilder}.
 *
 * @module
 */
import type { OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import { blockQuantizedMatMul, type QuantizationBits } from "./block_quantization.ts";
import { seededRandom } from "../../lib/seeded_random.ts";

/** Seeded weights, constants and shared layers for one graph. */
export class SeededLayers {
  readonly #g: OnnxGraphBuilder;
  readonly #random: () => number;
  readonly #prefix: string;
  readonly #type: "float32" | "float16";
  #count = 0;

  /**
   * @param g the graph
   * @param seed weight seed
   * @param prefix prefix of the generated value names
   * @param type element type of weights and float constants (the draws are the same either way)
   */
  constructor(
    g: OnnxGraphBuilder,
    seed: number,
    prefix = "",
    type: "float32" | "float16" = "float32",
  ) {
    this.#g = g;
    this.#random = seededRandom(seed);
    this.#prefix = prefix;
    this.#type = type;
  }

  /** The draws of a learned matrix (row-major), uniform with the variance of 1/rows (x `scale`). */
  draw(rows: number, cols: number, scale = 1): Float32Array {
    const bound = Math.sqrt(3 / rows) * scale;
    const values = new Float32Array(rows * cols);
    for (let i = 0; i < values.length; i++) values[i] = (2 * this.#random() - 1) * bound;
    return values;
  }

  /** A learned matrix, uniform with the variance of 1/rows (times `scale`). */
  matrix(rows: number, cols: number, scale = 1): string {
    return this.#g.weight(this.#name("w"), this.draw(rows, cols, scale), [rows, cols], this.#type);
  }

  /**
   * `x @ W` for drawn weights `values` (`rows` x `cols`): a `MatMul` over a weight of the layers'
   * type, or with `bits`, ONNX Runtime's `MatMulNBits` over the weights block-quantized (32 rows
   * a block, a scale each; on GPUs whose WebGPU adapter has subgroup matrices, tensor cores).
   */
  project(
    x: string,
    values: Float32Array,
    rows: number,
    cols: number,
    bits?: QuantizationBits,
  ): string {
    if (bits === undefined) {
      return this.#g.op("MatMul", [
        x,
        this.#g.weight(this.#name("w"), values, [rows, cols], this.#type),
      ]);
    }
    return blockQuantizedMatMul(this.#g, x, values, rows, cols, {
      bits,
      type: this.#type,
      names: { codes: this.#name("q"), scales: this.#name("s") },
    });
  }

  /** A learned vector, initialised to `value`. */
  vector(length: number, value = 0): string {
    return this.#g.weight(
      this.#name("w"),
      new Float32Array(length).fill(value),
      [length],
      this.#type,
    );
  }

  /** An int64 constant (`dims` [] for a scalar). */
  ints(values: number[], dims?: number[]): string {
    return this.#g.ints(this.#name("c"), values, dims);
  }

  /** `shape(t)[from:to]` concatenated with fixed dims: a Reshape target that keeps `t`'s leading dims. */
  shapeLike(t: string, from: number, to: number, rest: number[]): string {
    const g = this.#g;
    return g.op("Concat", [
      g.op("Slice", [g.op("Shape", [t]), this.ints([from]), this.ints([to])]),
      this.ints(rest),
    ], { axis: 0 });
  }

  /** An int64 scalar constant. */
  scalar(value: number): string {
    return this.ints([value], []);
  }

  /** A float scalar constant, of the layers' element type. */
  float(value: number): string {
    return this.#g.floats(this.#name("c"), [value], [], this.#type);
  }

  /** A float constant of the layers' element type. */
  floats(values: number[], dims?: number[]): string {
    return this.#g.floats(this.#name("c"), values, dims, this.#type);
  }

  /** `x @ W + b`, W scaled by `scale` (block-quantized to `bits` when given). */
  linear(x: string, rows: number, cols: number, scale = 1, bits?: QuantizationBits): string {
    return this.#g.op("Add", [
      this.project(x, this.draw(rows, cols, scale), rows, cols, bits),
      this.vector(cols),
    ]);
  }

  /** `x * sigmoid(x)`. */
  silu(x: string): string {
    return this.#g.op("Mul", [x, this.#g.op("Sigmoid", [x])]);
  }

  /** Layer normalization over the last axis of width `width`, learned scale and shift. */
  layerNorm(x: string, width: number): string {
    return this.#g.op("LayerNormalization", [x, this.vector(width, 1), this.vector(width, 0)], {
      axis: -1,
      epsilon: { float: 1e-5 },
    });
  }

  #name(kind: string): string {
    return `${this.#prefix}${kind}${this.#count++}`;
  }
}
