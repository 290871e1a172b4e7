/**
 * One static-step bucket: a session of the model with every dimension fixed to the bucket's
 * slots, its inputs and outputs bound once to tensors of its own and to the first `slots` slots
 * of the cache (a captured graph, WebGPU's or CUDA's, replays with exactly these buffers). Its rows carry
 * the flow noise as a row of the bank ({@linkcode BANKED_PACKED_TURN}). gpu-worker/static_steps.ts
 * chooses the bucket and fills and reads it.
 *
 * @module
 */
import { layerTensorName, SLOT_STATE } from "./model/model_contract.ts";
import {
  BANKED_PACKED_TURN,
  NOISE_BANK_NAME,
  PACKED_INPUT_NAME,
  PACKED_OUTPUT,
  PACKED_OUTPUT_NAME,
} from "./model/step_packing.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import {
  type ExecutionProvider,
  GRAPH_CAPTURE_OPTION,
  type OrtIoBinding,
  OrtModelSession,
  type OrtTensor,
} from "./ort/ort_session.ts";
import { PATCH_SIDE, PATCHES_PER_FRAME } from "../protocol/media_format.ts";

/** How a bucket's session is made. */
export interface StaticBucketOptions {
  /** Execution provider (the model's). */
  executionProvider: ExecutionProvider;
  /** Provider options (the model's). */
  providerOptions?: Record<string, string>;
  /** The ONNX Runtime library. */
  libraryPath?: string;
  /** CPU provider threads (0: ONNX Runtime's default). */
  threads?: number;
  /** Record the graph once and replay it (WebGPU's graph capture, CUDA graphs). */
  capture: boolean;
  /**
   * The flow noise bank in the provider's memory (gpu-worker/flow_noise.ts), which every bucket
   * of a cache reads; owned by the caller.
   */
  noiseBank: OrtTensor;
}

/** Frames' dimensions after the first. */
export const FRAME_DIMS = [PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3];
/** A static step's rows carry their noise as a row of the bank bound beside them. */
export const STATIC_ROW_LAYOUT = BANKED_PACKED_TURN;
const LAYOUT = STATIC_ROW_LAYOUT;

/** One bucket: a fixed-shape session over the cache's first `slots` slots, bound once. */
export class StaticBucket {
  /** Slots the bucket holds (its rows). */
  readonly slots: number;
  readonly #session: OrtModelSession;
  readonly #binding: OrtIoBinding;
  /** Bound to the session: the step's rows, slot state, frames and outputs; the cache's views. */
  readonly turns: OrtTensor;
  readonly slotState: OrtTensor;
  readonly patches: OrtTensor;
  readonly outputs: OrtTensor;
  readonly #views: OrtTensor[];
  /** What the host writes and reads: the bound tensors' own memory on the CPU provider. */
  readonly hostTurns: Float32Array;
  readonly hostSlotState: Int32Array;
  readonly hostOutputs: Float32Array;
  /** Host tensors over those arrays, for the copies (a device provider only). */
  readonly #hostTensors: OrtTensor[] = [];

  /** A session of `modelBytes` (packed with the noise bank) over `cache`'s first `slots` slots. */
  constructor(modelBytes: Uint8Array, cache: KvCacheSlots, slots: number, o: StaticBucketOptions) {
    const { layers, heads, cacheLength } = cache.geometry;
    this.slots = slots;
    this.#session = OrtModelSession.create(modelBytes, {
      executionProvider: o.executionProvider,
      providerOptions: o.capture && o.executionProvider !== "cpu"
        ? { ...o.providerOptions, [GRAPH_CAPTURE_OPTION[o.executionProvider]]: "1" }
        : o.providerOptions,
      libraryPath: o.libraryPath,
      threads: o.threads,
      fixedDimensions: {
        batch: slots,
        turns: 1,
        images: slots,
        slots,
        cache_rows: slots * heads * cacheLength,
      },
    });
    const s = this.#session;
    this.turns = s.deviceTensor("float32", [slots, 1, LAYOUT.size]);
    this.slotState = s.deviceTensor("int32", [slots, SLOT_STATE.size]);
    this.patches = s.deviceTensor("uint8", [slots, ...FRAME_DIMS]);
    this.outputs = s.deviceTensor("float32", [slots, 1, PACKED_OUTPUT.size]);
    const { keys, values } = cache.ownedViews(slots);
    this.#views = [...keys, ...values];
    const hosted = <T>(tensor: OrtTensor, make: (buffer: ArrayBufferLike) => T): T => {
      if (tensor.host) return make(tensor.host.buffer);
      const host = make(new ArrayBuffer(tensor.bytes));
      this.#hostTensors.push(s.hostTensor(host as ArrayBufferView, tensor.type, tensor.dims));
      return host;
    };
    this.hostTurns = hosted(this.turns, (b) => new Float32Array(b));
    this.hostSlotState = hosted(this.slotState, (b) => new Int32Array(b));
    this.hostOutputs = hosted(this.outputs, (b) => new Float32Array(b));
    const binding = this.#binding = s.binding();
    binding.input(PACKED_INPUT_NAME, this.turns);
    binding.input("slot_state", this.slotState);
    binding.input("patches", this.patches);
    binding.input(NOISE_BANK_NAME, o.noiseBank);
    binding.output(PACKED_OUTPUT_NAME, this.outputs);
    for (let l = 0; l < layers; l++) {
      binding.input(layerTensorName("past_keys_{layer}", l), keys[l]);
      binding.input(layerTensorName("past_values_{layer}", l), values[l]);
      binding.output(layerTensorName("present_keys_{layer}", l), keys[l]);
      binding.output(layerTensorName("present_values_{layer}", l), values[l]);
    }
  }

  /** The host-side tensors of the rows and slot state, then of the outputs (device only). */
  get hostTensors(): { turns: OrtTensor; slotState: OrtTensor; outputs: OrtTensor } {
    const [turns, slotState, outputs] = this.#hostTensors;
    return { turns, slotState, outputs };
  }

  /** Whether the bound tensors live in device memory (copies needed). */
  get onDevice(): boolean {
    return this.#hostTensors.length > 0;
  }

  /** A tensor over the first `count` frames of the bound frames. */
  framesView(count: number): OrtTensor {
    return this.#session.prefixView(this.patches, [count, ...FRAME_DIMS]);
  }

  /** A host tensor over `frames` (`count` frames). */
  hostFrames(frames: Uint8Array, count: number): OrtTensor {
    return this.#session.hostTensor(frames, "uint8", [count, ...FRAME_DIMS]);
  }

  /** Runs (or replays) the step on what is bound. */
  run(): Promise<void> {
    return this.#binding.run();
  }

  /** Releases the binding, the tensors and the session (before the cache's memory). */
  release(): void {
    this.#binding.release();
    for (
      const tensor of [
        ...this.#views,
        ...this.#hostTensors,
        this.turns,
        this.slotState,
        this.patches,
        this.outputs,
      ]
    ) {
      tensor.release();
    }
    this.#session.release();
  }
}
