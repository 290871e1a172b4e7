/**
 * Moves sessions' key/value rings from one cache slot to another where they live, so that a
 * worker can keep its sessions in its lowest slots (gpu-worker/slot_compaction.ts).
 *
 * In device memory the move is a tiny model on the cache's provider, bound in place like the
 * interaction model (each layer's keys and values as both input and output): per tensor,
 * `Gather` the source slots' rows and `ScatterElements` them over the destinations'. No slot
 * but a destination is written, nothing of the cache crosses the bus, and one run moves any
 * number of slots. (`ScatterND` would take one index a row instead of one an element, but
 * WebGPU's checks its indices for duplicates pairwise in every thread.) In host memory (the
 * CPU provider) a slot is one contiguous span of each tensor, and the move is a `copyWithin`:
 * ONNX Runtime's CPU `ScatterElements` moved 16 slots of `base` in 7.8 s, a memory copy in
 * milliseconds.
 *
 * @module
 */
import { layerTensorName } from "./model/model_contract.ts";
import { OnnxGraphBuilder } from "./model/onnx_graph_builder.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import {
  type ExecutionProvider,
  type OrtIoBinding,
  OrtModelSession,
  type OrtTensor,
} from "./ort/ort_session.ts";

/** How the mover's session is made: the cache's provider and its options. */
export interface SlotMoverOptions {
  /** The cache's execution provider. */
  executionProvider: ExecutionProvider;
  /** Its provider options (the same device). */
  providerOptions?: Record<string, string>;
  /** The ONNX Runtime library. */
  libraryPath?: string;
  /**
   * Moves through the model even where the cache is in host memory (to check one path
   * against the other).
   */
  forceModel?: boolean;
}

/** One slot's move: its rings are copied from slot `from` over slot `to`. */
export interface SlotMove {
  /** The slot moved from. */
  from: number;
  /** The slot moved to. */
  to: number;
}

const KINDS = ["keys", "values"] as const;

/** Moves slots of one cache; see the module doc. */
export class SlotMover {
  readonly #cache: KvCacheSlots;
  /** The move model, where the cache is in device memory (or `forceModel`). */
  readonly #model: { session: OrtModelSession; binding: OrtIoBinding } | undefined;

  /** A mover for `cache` (whose tensors it binds whole). */
  constructor(cache: KvCacheSlots, options: SlotMoverOptions) {
    this.#cache = cache;
    const { keys } = cache.views(cache.capacity);
    if (keys[0].host && !options.forceModel) return;
    const session = OrtModelSession.create(moveModel(cache), options);
    this.#model = { session, binding: session.binding() };
  }

  /**
   * Copies each move's rings over its destination's, off the event loop on a device (ordered
   * with the steps before and after it on the provider); the cache's bookkeeping is the
   * caller's. No slot may be both a source and a destination.
   */
  async move(moves: readonly SlotMove[]): Promise<void> {
    if (moves.length === 0) return;
    const { keys, values } = this.#cache.views(this.#cache.capacity);
    const tensors = [...keys, ...values];
    if (!this.#model) {
      for (const tensor of tensors) {
        const { buffer, byteOffset, byteLength } = tensor.host!;
        const bytes = new Uint8Array(buffer, byteOffset, byteLength);
        const slotBytes = bytes.byteLength / this.#cache.capacity;
        for (const { from, to } of moves) {
          bytes.copyWithin(to * slotBytes, from * slotBytes, (from + 1) * slotBytes);
        }
      }
      return;
    }
    const { session, binding } = this.#model;
    const owned: [string, OrtTensor][] = KINDS.flatMap((kind, k) => {
      const rows = tensors[k * keys.length].dims[0] / this.#cache.capacity;
      const at = (slots: number[]) => {
        const index = new Int32Array(slots.length * rows);
        slots.forEach((slot, m) => {
          for (let i = 0; i < rows; i++) index[m * rows + i] = slot * rows + i;
        });
        return session.hostTensor(index, "int32", [index.length]);
      };
      return [
        [`${kind}_from`, at(moves.map((m) => m.from))],
        [`${kind}_to`, at(moves.map((m) => m.to))],
      ];
    });
    try {
      binding.clear();
      for (const [name, tensor] of owned) await binding.inputAsync(name, tensor);
      for (let l = 0; l < keys.length; l++) {
        for (const [kind, tensor] of [["keys", keys[l]], ["values", values[l]]] as const) {
          binding.input(layerTensorName(`past_${kind}_{layer}`, l), tensor);
          binding.output(layerTensorName(`present_${kind}_{layer}`, l), tensor);
        }
      }
      await binding.run();
    } finally {
      binding.clear();
      for (const [, tensor] of owned) tensor.release();
    }
  }

  /** Releases the mover's session (before the cache's memory). */
  release(): void {
    this.#model?.binding.release();
    this.#model?.session.release();
  }
}

/** The move model of `cache`'s tensors; see the module doc. */
function moveModel(cache: KvCacheSlots): Uint8Array {
  const { keys, values } = cache.views(cache.capacity);
  const g = new OnnxGraphBuilder("slot_mover");
  const type = cache.geometry.cacheType;
  const moves = KINDS.map((kind, k) => {
    const rest = [keys, values][k][0].dims.slice(1);
    const moved = `${kind}_moved_rows`;
    const from = g.input(`${kind}_from`, "int32", [moved]);
    const to = g.input(`${kind}_to`, "int32", [moved]);
    // ScatterElements takes an index per element: the destination row, broadcast.
    const column = g.op("Reshape", [to, g.ints(`${kind}_column`, [-1, ...rest.map(() => 1)])]);
    const indices = g.op("Expand", [column, g.ints(`${kind}_broadcast`, [1, ...rest])]);
    return { kind, rest, from, indices };
  });
  for (let l = 0; l < keys.length; l++) {
    for (const { kind, rest, from, indices } of moves) {
      const shape = [`${kind}_rows`, ...rest];
      const past = g.input(layerTensorName(`past_${kind}_{layer}`, l), type, shape);
      const rows = g.op("Gather", [past, from], { axis: 0 });
      const present = layerTensorName(`present_${kind}_{layer}`, l);
      g.node("ScatterElements", [past, indices, rows], { axis: 0 }, [present]);
      g.output(present, type, shape);
    }
  }
  return g.build();
}
