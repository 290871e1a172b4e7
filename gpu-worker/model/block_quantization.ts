/**
 * Block-wise symmetric weight quantization in the layout of ONNX Runtime's `MatMulNBits`
 * contrib operator: a `[K, N]` weight (row-major, `x @ W`) becomes, per output column `n` and
 * per block of `blockSize` consecutive rows, one scale and `blockSize` unsigned codes of `bits`
 * bits with the implicit zero point `2^(bits-1)` (so `w ≈ (code - 2^(bits-1)) * scale`). 4-bit
 * codes pack two to a byte, the even row in the low nibble.
 *
 * @module
 */
import { MICROSOFT_DOMAIN, type OnnxGraphBuilder } from "./onnx_graph_builder.ts";

/** Bits per weight `MatMulNBits` accepts here. */
export type QuantizationBits = 4 | 8;

/** A weight quantized for `MatMulNBits`. */
export interface BlockQuantizedWeight {
  /** Codes, `[N, K / blockSize, blockSize * bits / 8]` bytes. */
  packed: Uint8Array<ArrayBuffer>;
  /** One scale per column and block, `[N, K / blockSize]` (row-major). */
  scales: Float32Array<ArrayBuffer>;
  /** Dimensions of `packed` for the initializer. */
  packedDims: [number, number, number];
}

/**
 * Quantizes `weights` (`rows` x `cols`, row-major: the `K x N` right operand of a MatMul).
 * `rows` must be a multiple of `blockSize`.
 */
export function quantizeBlockwise(
  weights: Float32Array,
  rows: number,
  cols: number,
  bits: QuantizationBits,
  blockSize = 32,
): BlockQuantizedWeight {
  if (rows % blockSize !== 0) {
    throw new RangeError(`${rows} rows are not a whole number of ${blockSize}-row blocks`);
  }
  const blocks = rows / blockSize;
  const blockBytes = (blockSize * bits) / 8;
  const zero = 2 ** (bits - 1);
  const largest = zero - 1; // symmetric: codes zero-largest .. zero+largest
  const packed = new Uint8Array(cols * blocks * blockBytes);
  const scales = new Float32Array(cols * blocks);
  for (let col = 0; col < cols; col++) {
    for (let block = 0; block < blocks; block++) {
      const first = block * blockSize;
      let peak = 0;
      for (let i = 0; i < blockSize; i++) {
        peak = Math.max(peak, Math.abs(weights[(first + i) * cols + col]));
      }
      const scale = peak / largest;
      scales[col * blocks + block] = scale;
      const out = (col * blocks + block) * blockBytes;
      for (let i = 0; i < blockSize; i++) {
        const value = weights[(first + i) * cols + col];
        const code = scale === 0 ? zero : zero + Math.round(value / scale);
        if (bits === 8) packed[out + i] = code;
        else packed[out + (i >> 1)] |= (i & 1) === 0 ? code : code << 4;
      }
    }
  }
  return { packed, scales, packedDims: [cols, blocks, blockBytes] };
}

/** The weights a quantized block stands for (`rows` x `cols`, row-major), for checking. */
export function dequantizeBlockwise(
  { packed, scales }: BlockQuantizedWeight,
  rows: number,
  cols: number,
  bits: QuantizationBits,
  blockSize = 32,
): Float32Array {
  const blocks = rows / blockSize;
  const blockBytes = (blockSize * bits) / 8;
  const zero = 2 ** (bits - 1);
  const weights = new Float32Array(rows * cols);
  for (let col = 0; col < cols; col++) {
    for (let block = 0; block < blocks; block++) {
      const scale = scales[col * blocks + block];
      const base = (col * blocks + block) * blockBytes;
      for (let i = 0; i < blockSize; i++) {
        const byte = packed[base + (bits === 8 ? i : i >> 1)];
        const code = bits === 8 ? byte : (i & 1) === 0 ? byte & 15 : byte >> 4;
        weights[(block * blockSize + i) * cols + col] = (code - zero) * scale;
      }
    }
  }
  return weights;
}

/** How {@linkcode blockQuantizedMatMul} builds its node. */
export interface BlockQuantizedMatMulOptions {
  /** Bits per weight. */
  bits: QuantizationBits;
  /** Element type of the activations (and so of the scales). */
  type: "float32" | "float16";
  /** Names of the codes and scales initializers. */
  names: { codes: string; scales: string };
  /** `MatMulNBits`'s accuracy level (4: activations quantized to int8 too). Default 0. */
  accuracyLevel?: number;
  /** Name of the output (generated when not given). */
  output?: string;
}

/**
 * `x @ W` through ONNX Runtime's `MatMulNBits` over `weights` (`rows` x `cols`, row-major)
 * block-quantized here (32 rows a block); returns the output's name.
 */
export function blockQuantizedMatMul(
  g: OnnxGraphBuilder,
  x: string,
  weights: Float32Array,
  rows: number,
  cols: number,
  { bits, type, names, accuracyLevel = 0, output }: BlockQuantizedMatMulOptions,
): string {
  const quantized = quantizeBlockwise(weights, rows, cols, bits);
  return g.node(
    "MatMulNBits",
    [
      x,
      g.packedWeight(names.codes, quantized.packed, quantized.packedDims, weights.length),
      g.floats(names.scales, Array.from(quantized.scales), [cols, rows / 32], type),
    ],
    { K: rows, N: cols, bits, block_size: 32, accuracy_level: accuracyLevel },
    output === undefined ? 1 : [output],
    MICROSOFT_DOMAIN,
  )[0];
}
