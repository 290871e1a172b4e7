/**
 * The reference model's key/value rings and its attention over them, as ONNX nodes: where a
 * call's new positions go in each session slot's ring, what each query may see (the bias), the
 * in-place writes of keys and values (`ScatterElements` on the bound cache, returned as the
 * `present_*` outputs), and attention in one of two forms:
 * - `fused`: ONNX Runtime's `MultiHeadAttention`, over key rings stored by position (BNSH);
 * - `operators`: queries x keys, bias, Softmax, x values, over key rings stored by feature
 *   (`[slots, heads * head size, ring]`), so the product reads the rings as stored and returns
 *   the scores in Softmax's order: no transpose of a ring or of the scores. Measured on an
 *   H100 through WebGPU (bench/attention_probe.ts): half the GPU time of keys x queries over
 *   rings stored by position at 256 sessions.
 * Values are stored by position in both forms (attention weights x values reads them so).
 *
 * @module
 */
import {
  ELEMENT_TYPES,
  MICROSOFT_DOMAIN,
  type OnnxDim,
  type OnnxGraphBuilder,
} from "./onnx_graph_builder.ts";
import type { KeyLayout } from "./model_contract.ts";
import type { SeededLayers } from "./seeded_layers.ts";

/** The cache's geometry and the attention's form. */
export interface RingAttentionShape {
  /** Transformer layers: one key and one value tensor each. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Size of one head's key or value. */
  headSize: number;
  /** Positions a query attends to. */
  window: number;
  /** Ring positions per session slot. */
  cacheLength: number;
  /** Element type of the cache. */
  precision: "float32" | "float16";
  /** Attention form; `operators` stores keys by feature. */
  attention: "fused" | "operators";
}

/** The step's tensors the rings are addressed by (all int32). */
export interface RingAttentionState {
  /** Positions per session in this call (T), an int64 scalar. */
  count: string;
  /** 0 .. T-1, [T]. */
  steps: string;
  /** Each batch row's slot, [b]. */
  stepSlots: string;
  /** Each batch row's ring index of its first new position, [b]. */
  cacheHead: string;
  /** Each bound slot's batch row (`batch` when not in the call), [s]. */
  slotRows: string;
  /** Each bound slot's newest ring index after this call's write, [s]. */
  cacheNewest: string;
  /** Each bound slot's filled ring positions after this call's write, [s]. */
  cacheFilled: string;
}

/** Declares the cache inputs and outputs and builds each layer's attention over its rings. */
export class RingAttention {
  /** How the key rings are stored. */
  readonly keyLayout: KeyLayout;
  readonly #g: OnnxGraphBuilder;
  readonly #seeded: SeededLayers;
  readonly #shape: RingAttentionShape;
  readonly #state: RingAttentionState;
  readonly #pastKeys: string[];
  readonly #pastValues: string[];
  /** Dimensions of a layer's key and value tensors, as declared. */
  readonly #keyDims: OnnxDim[];
  readonly #valueDims: OnnxDim[];
  /** Positions per session in this call, an int32 scalar. */
  readonly #callLength: string;
  readonly #bias: string;
  /** Where each layer writes its new rows (values; keys stored by position), [b * H * T, dh]. */
  readonly #rowWriteIndex: string;
  /** Where each layer writes its new key columns (keys stored by feature), [s, H * dh, T]. */
  readonly #columnWriteIndex: string | undefined;
  #int32Count = 0;

  /**
   * @param g the model's graph
   * @param seeded its seeded layers (for constants)
   * @param shape cache geometry and attention form
   * @param state the step's addressing tensors
   */
  constructor(
    g: OnnxGraphBuilder,
    seeded: SeededLayers,
    shape: RingAttentionShape,
    state: RingAttentionState,
  ) {
    this.#g = g;
    this.#seeded = seeded;
    this.#shape = shape;
    this.#state = state;
    this.keyLayout = shape.attention === "operators" ? "features" : "positions";
    const { heads, headSize, cacheLength, precision } = shape;
    this.#valueDims = ["cache_rows", headSize];
    this.#keyDims = this.keyLayout === "features"
      ? ["slots", heads * headSize, cacheLength]
      : this.#valueDims;
    this.#pastKeys = Array.from(
      { length: shape.layers },
      (_, l) => g.input(`past_keys_${l}`, precision, this.#keyDims),
    );
    this.#pastValues = Array.from(
      { length: shape.layers },
      (_, l) => g.input(`past_values_${l}`, precision, this.#valueDims),
    );
    // What every layer's writes and attention share is computed once, not once a layer.
    this.#callLength = g.op("Cast", [state.count], { to: ELEMENT_TYPES.int32 });
    this.#rowWriteIndex = this.#positionWriteIndex();
    this.#columnWriteIndex = this.keyLayout === "features" ? this.#featureWriteIndex() : undefined;
    this.#bias = this.#attentionBias();
  }

  /**
   * Writes layer `layer`'s new keys and values ([b, T, H, dh], batch order) into its rings and
   * attends with `queries` (slot order, [s, T, H, dh]) over them: [s, T, H * dh].
   */
  attend(layer: number, queries: string, keys: string, values: string): string {
    const g = this.#g;
    const { heads, headSize, cacheLength } = this.#shape;
    const ints = (v: number[]) => this.#seeded.ints(v);
    /** [b, T, H, dh] to rows in write order: [b * H * T, dh]. */
    const flat = (t: string) =>
      g.op("Reshape", [g.op("Transpose", [t], { perm: [0, 2, 1, 3] }), ints([-1, headSize])]);
    // In place: the runtime binds present_* to the buffers of past_*.
    const [valueRings] = g.node(
      "ScatterElements",
      [this.#pastValues[layer], this.#rowWriteIndex, flat(values)],
      { axis: 0 },
      [`present_values_${layer}`],
    );
    /** Rings stored by position as the attention's [s, H, L, dh] (BNSH, no copy). */
    const perSlot = (t: string) => g.op("Reshape", [t, ints([-1, heads, cacheLength, headSize])]);
    if (this.keyLayout === "positions") {
      const [keyRings] = g.node(
        "ScatterElements",
        [this.#pastKeys[layer], this.#rowWriteIndex, flat(keys)],
        { axis: 0 },
        [`present_keys_${layer}`],
      );
      return g.node(
        "MultiHeadAttention",
        [
          g.op("Reshape", [queries, ints([0, 0, heads * headSize])]),
          perSlot(keyRings),
          perSlot(valueRings),
          "",
          "",
          this.#bias,
        ],
        { num_heads: heads },
        1,
        MICROSOFT_DOMAIN,
      )[0];
    }
    const keyRings = this.#writeKeysByFeature(layer, keys);
    const scaled = g.op("Mul", [
      g.op("Transpose", [queries], { perm: [0, 2, 1, 3] }),
      this.#seeded.float(1 / Math.sqrt(headSize)),
    ]); // [s, H, T, dh]
    const scores = g.op("MatMul", [
      scaled,
      g.op("Reshape", [keyRings, ints([0, heads, headSize, cacheLength])]),
    ]); // [s, H, T, L]
    const weights = g.op("Softmax", [g.op("Add", [scores, this.#bias])], { axis: -1 });
    return g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [weights, perSlot(valueRings)])], {
        perm: [0, 2, 1, 3],
      }),
      ints([0, 0, heads * headSize]),
    ]);
  }

  /**
   * Batch rows in slot order, a zero row for slots not in the call: [b, ...] to [s, ...].
   */
  toSlots(t: string): string {
    const g = this.#g;
    const ints = (v: number[]) => this.#seeded.ints(v);
    return g.op("Gather", [
      g.op("Concat", [
        t,
        g.op("Mul", [g.op("Slice", [t, ints([0]), ints([1])]), this.#seeded.float(0)]),
      ], {
        axis: 0,
      }),
      this.#state.slotRows,
    ], { axis: 0 });
  }

  /**
   * Keys stored by feature: one `ScatterElements` over the whole bound cache (in place) writes
   * T columns of every bound slot's ring, at the columns `#featureWriteIndex` computed once.
   */
  #writeKeysByFeature(layer: number, keys: string): string {
    const g = this.#g;
    const { heads, headSize } = this.#shape;
    const newKeys = g.op("Reshape", [
      g.op("Transpose", [this.toSlots(keys)], { perm: [0, 2, 3, 1] }),
      this.#seeded.ints([0, heads * headSize, -1]),
    ]); // [s, H * dh, T]
    return g.node(
      "ScatterElements",
      [this.#pastKeys[layer], this.#columnWriteIndex!, newKeys],
      { axis: 2 },
      [`present_keys_${layer}`],
    )[0];
  }

  /**
   * The ring columns a step writes, for every element of the key rings' new columns
   * ([s, H * dh, T]): a slot in the call gets its new keys at its new positions; any other slot
   * gets zeros (its rows of the slot-ordered keys) in the T columns after its newest, which its
   * window cannot see (they are older than the window, or not yet filled) and which its next
   * call overwrites first.
   */
  #featureWriteIndex(): string {
    const g = this.#g;
    const { heads, headSize, cacheLength } = this.#shape;
    const { steps, stepSlots, slotRows, cacheNewest } = this.#state;
    const ints = (v: number[]) => this.#seeded.ints(v);
    const inCall = g.op("Less", [
      slotRows,
      g.op("Cast", [g.op("Gather", [g.op("Shape", [stepSlots]), this.#seeded.scalar(0)])], {
        to: ELEMENT_TYPES.int32,
      }),
    ]); // [s]
    // First column: newest - (T - 1) for a slot in the call (newest is after this call's
    // write), newest + 1 for the others.
    const first = g.op("Where", [
      inCall,
      g.op("Sub", [cacheNewest, g.op("Sub", [this.#callLength, this.#int32(1)])]),
      g.op("Add", [cacheNewest, this.#int32(1)]),
    ]); // [s]
    const columns = g.op("Add", [g.op("Unsqueeze", [first, ints([1])]), steps]); // [s, T]
    const wrapped = g.op("Where", [
      g.op("Less", [columns, this.#int32(0)]),
      g.op("Add", [columns, this.#int32(cacheLength)]),
      g.op("Where", [
        g.op("Less", [columns, this.#int32(cacheLength)]),
        columns,
        g.op("Sub", [columns, this.#int32(cacheLength)]),
      ]),
    ]);
    // [s, 1, T] broadcast to every feature row.
    return g.op("Expand", [
      g.op("Unsqueeze", [wrapped, ints([1])]),
      ints([1, heads * headSize, 1]),
    ]);
  }

  /** Declares the `present_*` outputs (after the model's other outputs). */
  declareOutputs(): void {
    const { layers, precision } = this.#shape;
    for (let layer = 0; layer < layers; layer++) {
      this.#g.output(`present_keys_${layer}`, precision, this.#keyDims);
      this.#g.output(`present_values_${layer}`, precision, this.#valueDims);
    }
  }

  /**
   * Ring row of new position t of head h of batch row b, heads-first:
   * (slot * heads + h) * cacheLength + (ring index + t) mod cacheLength, for every element of
   * the rows written ([b * H * T, dh]: `ScatterElements` wants an index per element).
   */
  #positionWriteIndex(): string {
    const g = this.#g;
    const { heads, headSize, cacheLength } = this.#shape;
    const { steps, stepSlots, cacheHead } = this.#state;
    const ints = (v: number[]) => this.#seeded.ints(v);
    const ringAt = g.op("Add", [g.op("Unsqueeze", [cacheHead, ints([1])]), steps]); // [b, T]
    const wrapped = g.op("Where", [
      g.op("Less", [ringAt, this.#int32(cacheLength)]),
      ringAt,
      g.op("Sub", [ringAt, this.#int32(cacheLength)]),
    ]);
    const slotStart = g.op("Mul", [stepSlots, this.#int32(heads * cacheLength)]); // [b]
    const headStart = g.int32s(
      "head_ring_starts",
      Array.from({ length: heads }, (_, h) => h * cacheLength),
      [1, heads, 1],
    );
    const writeRows = g.op("Add", [
      g.op("Add", [g.op("Unsqueeze", [slotStart, ints([1, 2])]), headStart]),
      g.op("Unsqueeze", [wrapped, ints([1])]),
    ]); // [b, H, T]
    const flatRows = g.op("Reshape", [writeRows, ints([-1, 1])]);
    return g.op("Expand", [
      flatRows,
      g.op("Concat", [
        g.op("Slice", [g.op("Shape", [flatRows]), ints([0]), ints([1])]),
        ints([headSize]),
      ], { axis: 0 }),
    ]);
  }

  /**
   * The bias every query adds to its scores, [s, 1, T, L]: query t sees ages in
   * [T-1-t, min(filled, window + T-1-t)): itself, earlier positions of its call, and the
   * window's older positions that are filled (age of ring position r after this call's write:
   * newest - r, mod the ring).
   */
  #attentionBias(): string {
    const g = this.#g;
    const { window, cacheLength } = this.#shape;
    const { steps, cacheNewest, cacheFilled } = this.#state;
    const ints = (v: number[]) => this.#seeded.ints(v);
    const scalar = (v: number) => this.#seeded.scalar(v);
    const ring = g.op("Cast", [g.op("Range", [scalar(0), scalar(cacheLength), scalar(1)])], {
      to: ELEMENT_TYPES.int32,
    });
    const difference = g.op("Sub", [g.op("Unsqueeze", [cacheNewest, ints([1])]), ring]); // [s, L]
    const age = g.op("Where", [
      g.op("Less", [difference, this.#int32(0)]),
      g.op("Add", [difference, this.#int32(cacheLength)]),
      difference,
    ]);
    const lag = g.op("Sub", [g.op("Sub", [this.#callLength, this.#int32(1)]), steps]);
    const lagColumn = g.op("Unsqueeze", [lag, ints([0, 2])]); // [1, T, 1]
    const ageRow = g.op("Unsqueeze", [age, ints([1])]); // [s, 1, L]
    const reach = g.op("Min", [
      g.op("Unsqueeze", [cacheFilled, ints([1, 2])]),
      g.op("Add", [lagColumn, this.#int32(window)]),
    ]); // [s, T, 1]
    const visible = g.op("And", [
      g.op("GreaterOrEqual", [ageRow, lagColumn]),
      g.op("Less", [ageRow, reach]),
    ]); // [s, T, L]
    return g.op("Unsqueeze", [
      g.op("Where", [visible, this.#seeded.float(0), this.#seeded.float(-10_000)]),
      ints([1]),
    ]);
  }

  /** An int32 scalar constant. */
  #int32(value: number): string {
    return this.#g.int32s(`ring_i32_${this.#int32Count++}`, [value], []);
  }
}
