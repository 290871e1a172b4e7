/**
 * An interaction model run through ONNX Runtime's C API (gpu-worker/ort/): checked against the
 * interaction contract at load (naming the first mismatch), then stepped in batches. A
 * step advances each session in the batch by one or more micro-turns; the model writes their
 * keys and values into the sessions' rings in the runtime's cache ({@linkcode KvCacheSlots}),
 * which stays in the execution provider's memory: only the micro-turns' inputs and outputs
 * cross between host and device.
 *
 * @module
 */
import {
  type CacheGeometry,
  layerTensorName,
  maxPositionsPerCall,
  POSITIONS_PER_MICRO_TURN,
  SLOT_STATE,
} from "./model/model_contract.ts";
import { checkContract } from "./model/contract_check.ts";
import {
  PACKED_INPUT_NAME,
  PACKED_OUTPUT,
  PACKED_OUTPUT_NAME,
  PACKED_TURN,
  packStepIo,
} from "./model/step_packing.ts";
import { KvCacheSlots } from "./kv_cache_slots.ts";
import { staticBucketSizes, type StaticStepPhases, StaticSteps } from "./static_steps.ts";
import { type SlotMove, SlotMover } from "./slot_mover.ts";
import { DeviceCopy } from "./device_copy.ts";
import { FLOW_NOISE_BANK_ROWS, flowNoiseBank } from "./flow_noise.ts";
import {
  FRAME_BYTES,
  hasFrame,
  readTurnRow,
  type SessionStep,
  type SessionStepOutput,
  writeSlotState,
  writeTurnRow,
} from "./step_rows.ts";
import {
  type ExecutionProvider,
  type OrtIoBinding,
  OrtModelSession,
  type OrtTensor,
} from "./ort/ort_session.ts";
import { PATCH_SIDE, PATCHES_PER_FRAME, SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";

export { ModelContractError } from "./model/contract_check.ts";
export type { ExecutionProvider } from "./ort/ort_session.ts";
export type { SessionStep, SessionStepOutput, TurnInput, TurnOutput } from "./step_rows.ts";

/**
 * How streaming steps (one micro-turn per session) run: with the shapes of each step (`off`),
 * or over every slot of a fixed-size bucket (gpu-worker/static_steps.ts), with static shapes
 * (`fixed`) and, on a GPU provider, a captured graph replayed (`captured`).
 */
export type StaticStepMode = "off" | "fixed" | "captured";

/** Options of {@linkcode InteractionModel.load}. */
export interface InteractionModelOptions {
  /** Name for logs. */
  name: string;
  /** Execution provider. Default `cpu`. */
  executionProvider?: ExecutionProvider;
  /** Provider options (keys and values, as ONNX Runtime names them). */
  providerOptions?: Record<string, string>;
  /** The ONNX Runtime library; default the one npm onnxruntime-node ships. */
  libraryPath?: string;
  /** CPU provider threads (0: ONNX Runtime's default). */
  threads?: number;
  /** Write ONNX Runtime's per-kernel profile to `<prefix>_<date>.json` when closed. */
  profilePrefix?: string;
  /** Streaming steps; default `captured` on a GPU provider, `off` on the CPU ({@linkcode StaticStepMode}). */
  staticSteps?: StaticStepMode;
}

/** Options of {@linkcode InteractionModel.createCache}. */
export interface CacheOptions {
  /** Slots of each static-step bucket; default {@linkcode staticBucketSizes} of the capacity. */
  staticBuckets?: readonly number[];
  /** Told where each static step's time went. */
  onStepPhases?: (phases: StaticStepPhases) => void;
}

/** Steps a model ran, by path. */
export interface StepCounts {
  /** Streaming steps over a fixed-shape bucket. */
  static: number;
  /** Steps with the shapes of their inputs. */
  dynamic: number;
}

/** Raised for a step asked of a model that was closed. */
export class ModelClosedError extends Error {
  constructor() {
    super("the interaction model is closed");
    this.name = "ModelClosedError";
  }
}

/** A loaded, contract-checked interaction model. */
export class InteractionModel {
  readonly #session: OrtModelSession;
  readonly #binding: OrtIoBinding;
  readonly #blankFrame: OrtTensor;
  /** The flow noise bank where the static steps read it, once a cache has them. */
  #noiseBank:
    | { tensor: OrtTensor; filled: Promise<void>; owned: { release(): void }[] }
    | undefined;
  /** The contract model and how its sessions are made, for the static steps' buckets. */
  readonly #bytes: Uint8Array;
  readonly #options: InteractionModelOptions;
  readonly #staticSteps = new WeakMap<KvCacheSlots, StaticSteps>();
  readonly #slotMovers = new WeakMap<KvCacheSlots, SlotMover>();
  /** Settles once the last step asked for has (steps run one at a time, in order). */
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  /** The key/value cache geometry the model declares. */
  readonly geometry: CacheGeometry;
  /** Name for logs. */
  readonly name: string;
  /** Where the model runs. */
  readonly executionProvider: ExecutionProvider;
  /** Positions one call may append to a session. */
  readonly maxPositionsPerCall: number;
  /** How streaming steps run ({@linkcode StaticStepMode}). */
  readonly staticSteps: StaticStepMode;
  /** Steps run so far, by path. */
  readonly stepCounts: StepCounts = { static: 0, dynamic: 0 };

  private constructor(
    session: OrtModelSession,
    geometry: CacheGeometry,
    bytes: Uint8Array,
    options: InteractionModelOptions,
  ) {
    this.#session = session;
    this.#binding = session.binding();
    // The blank frame of a step no micro-turn brings one to, kept where the model reads it
    // (a device tensor starts zeroed): most steps then copy no frame at all.
    this.#blankFrame = session.hasDeviceMemory
      ? session.deviceTensor("uint8", FRAME_DIMS)
      : session.hostTensor(new Uint8Array(FRAME_BYTES), "uint8", FRAME_DIMS);
    this.#bytes = bytes;
    this.#options = options;
    this.staticSteps = options.staticSteps ??
      (session.executionProvider === "cpu" ? "off" : "captured");
    this.geometry = geometry;
    this.name = options.name;
    this.executionProvider = session.executionProvider;
    this.maxPositionsPerCall = maxPositionsPerCall(geometry);
  }

  /**
   * Loads a model from bytes or a file path and checks it against the contract. Throws
   * `ModelContractError` naming the first mismatch, `ExecutionProviderUnavailableError` or
   * `OrtLibraryError` when the provider or library is not there.
   */
  static async load(
    source: Uint8Array | string,
    options: InteractionModelOptions,
  ): Promise<InteractionModel> {
    const bytes = typeof source === "string" ? await Deno.readFile(source) : source;
    const geometry = checkContract(bytes);
    const packed = packStepIo(bytes);
    const session = OrtModelSession.create(packed, {
      executionProvider: options.executionProvider,
      providerOptions: options.providerOptions,
      libraryPath: options.libraryPath,
      threads: options.threads,
      profilePrefix: options.profilePrefix,
    });
    return new InteractionModel(session, geometry, bytes, options);
  }

  /**
   * Allocates the cache of `capacity` sessions in the provider's memory, and, unless static
   * steps are off, the fixed-shape sessions of its buckets (their graphs recorded before the
   * first step runs). Throws `CacheCapacityError` (saying how many fit) when the device cannot
   * hold the cache.
   */
  createCache(capacity: number, options: CacheOptions = {}): KvCacheSlots {
    const cache = new KvCacheSlots(this.#session, capacity, this.geometry);
    if (this.staticSteps === "off") return cache;
    try {
      const bank = this.#flowNoiseBank();
      const steps = new StaticSteps(
        this.#bytes,
        cache,
        options.staticBuckets ?? staticBucketSizes(capacity),
        {
          executionProvider: this.executionProvider,
          providerOptions: this.#options.providerOptions,
          libraryPath: this.#options.libraryPath,
          threads: this.#options.threads,
          capture: this.staticSteps === "captured",
          onPhases: options.onStepPhases,
          noiseBank: bank.tensor,
          noiseBankFilled: bank.filled,
        },
      );
      cache.releaseFirst(steps);
      this.#staticSteps.set(cache, steps);
      // No step touches the cache before the buckets' first runs, which write every slot.
      this.#enqueue(() => steps.ready).catch(() => {});
    } catch (error) {
      cache.release();
      throw error;
    }
    return cache;
  }

  /**
   * The flow noise bank in the provider's memory, made (and on a device filled, by a copy kept
   * until close: a copy must outlive its queued work) for the first cache with static steps.
   */
  #flowNoiseBank(): { tensor: OrtTensor; filled: Promise<void> } {
    if (this.#noiseBank) return this.#noiseBank;
    const s = this.#session;
    const host = s.hostTensor(flowNoiseBank(), "float32", NOISE_BANK_DIMS);
    if (!s.hasDeviceMemory) {
      this.#noiseBank = { tensor: host, filled: Promise.resolve(), owned: [host] };
      return this.#noiseBank;
    }
    const tensor = s.deviceTensor("float32", NOISE_BANK_DIMS);
    const copy = new DeviceCopy(this.executionProvider, [{ type: "float32", rank: 2 }], {
      providerOptions: this.#options.providerOptions,
      libraryPath: this.#options.libraryPath,
    });
    const filled = this.#enqueue(() => copy.run([host], [tensor]));
    this.#noiseBank = { tensor, filled, owned: [tensor, host, copy] };
    return this.#noiseBank;
  }

  /**
   * Settles once `cache`'s static-step buckets have run (on a GPU: recorded their graphs),
   * or rejects with why they could not; at once for a cache without them.
   */
  cacheReady(cache: KvCacheSlots): Promise<void> {
    return this.#staticSteps.get(cache)?.ready ?? Promise.resolve();
  }

  /**
   * Slots a step over the first `span` slots of `cache` computes: its static bucket's, or
   * `span` itself where no bucket holds it (or static steps are off). What a worker keeps low
   * by moving its sessions into its lowest slots ({@linkcode moveSlots}).
   */
  stepSlots(cache: KvCacheSlots, span: number): number {
    return this.#staticSteps.get(cache)?.bucketSlots(span) ?? span;
  }

  /**
   * Copies each move's key/value rings over its destination slot's in `cache`, in the
   * provider's memory, in order with the steps asked for before and after. The cache's
   * bookkeeping is the caller's ({@linkcode KvCacheSlots.transfer}).
   */
  moveSlots(cache: KvCacheSlots, moves: readonly SlotMove[]): Promise<void> {
    if (this.#closed) return Promise.reject(new ModelClosedError());
    return this.#enqueue(() => this.#slotMover(cache).move(moves));
  }

  #slotMover(cache: KvCacheSlots): SlotMover {
    let mover = this.#slotMovers.get(cache);
    if (!mover) {
      mover = new SlotMover(cache, {
        executionProvider: this.executionProvider,
        providerOptions: this.#options.providerOptions,
        libraryPath: this.#options.libraryPath,
      });
      cache.releaseFirst(mover);
      this.#slotMovers.set(cache, mover);
    }
    return mover;
  }

  /**
   * Runs one batched step: each session's micro-turns are appended to its slot in `cache`
   * (in place) and their outputs returned. Every session must bring the same number of
   * micro-turns, at most {@linkcode maxPositionsPerCall} positions' worth. Steps run one at a
   * time, in the order they were asked for.
   */
  step(inputs: SessionStep[], cache: KvCacheSlots): Promise<SessionStepOutput[]> {
    if (this.#closed) return Promise.reject(new ModelClosedError());
    // A slot emptied before its step runs is not advanced by it.
    const generations = inputs.map((input) => cache.generation(input.slot));
    return this.#enqueue(() => {
      const steps = this.#staticSteps.get(cache);
      if (steps?.takes(inputs, cache.span)) {
        this.stepCounts.static++;
        return steps.step(inputs, cache, generations);
      }
      this.stepCounts.dynamic++;
      return this.#step(inputs, cache, generations);
    });
  }

  /** Runs `work` after everything asked for before it, whether that succeeded or not. */
  #enqueue<T>(work: () => T | Promise<T>): Promise<T> {
    const running = this.#tail.then(work);
    this.#tail = running.then(() => {}, () => {});
    return running;
  }

  async #step(
    inputs: SessionStep[],
    cache: KvCacheSlots,
    generations: readonly number[],
  ): Promise<SessionStepOutput[]> {
    const batch = inputs.length;
    const turns = inputs[0].turns.length;
    if (inputs.some((input) => input.turns.length !== turns)) {
      throw new RangeError("every session of a step must bring the same number of micro-turns");
    }
    const positions = turns * POSITIONS_PER_MICRO_TURN;
    if (positions > this.maxPositionsPerCall) {
      throw new RangeError(
        `a call appends at most ${this.maxPositionsPerCall} positions, not ${positions}`,
      );
    }
    const span = cache.span;
    const rows = batch * turns;
    // Only the micro-turns that bring a frame send one; the rest point past the last frame.
    const frames = inputs.flatMap((input) => input.turns.filter(hasFrame).map((t) => t.patches));
    const images = Math.max(1, frames.length);
    let nextImage = 0;
    const packed = new Float32Array(rows * PACKED_TURN.size);
    // Slots not in the step read the zero row after the batch's rows.
    const slotState = new Int32Array(span * SLOT_STATE.size);
    for (let slot = 0; slot < span; slot++) writeSlotState(slotState, slot, batch, cache, 0);
    inputs.forEach((input, b) => {
      const { slot } = input;
      if (slot >= span || slotState[slot * SLOT_STATE.size + SLOT_STATE.row] !== batch) {
        throw new RangeError(`slot ${slot} is not in use or is stepped twice`);
      }
      input.turns.forEach((turn, t) => {
        const image = hasFrame(turn) ? nextImage++ : images; // past the last frame: no frame
        writeTurnRow(packed, b * turns + t, turn, cache, slot, image);
      });
      writeSlotState(slotState, slot, b, cache, positions);
    });
    const outputs = new Float32Array(rows * PACKED_OUTPUT.size);
    const s = this.#session;
    const owned: OrtTensor[] = [
      s.hostTensor(packed, "float32", [batch, turns, PACKED_TURN.size]),
      s.hostTensor(slotState, "int32", [span, SLOT_STATE.size]),
    ];
    if (frames.length > 0) {
      const patches = new Uint8Array(images * FRAME_BYTES);
      frames.forEach((frame, i) => patches.set(frame, i * FRAME_BYTES));
      owned.push(s.hostTensor(patches, "uint8", [images, ...FRAME_DIMS.slice(1)]));
    }
    const output = s.hostTensor(outputs, "float32", [batch, turns, PACKED_OUTPUT.size]);
    const binding = this.#binding;
    try {
      binding.clear();
      // Off the event loop: a device provider copies each host input to the device as it is
      // bound, and the worker's other sessions go on meanwhile.
      await binding.inputAsync(PACKED_INPUT_NAME, owned[0]);
      await binding.inputAsync("slot_state", owned[1]);
      await binding.inputAsync("patches", owned[2] ?? this.#blankFrame);
      binding.output(PACKED_OUTPUT_NAME, output);
      const { keys, values } = cache.views(span);
      for (let l = 0; l < this.geometry.layers; l++) {
        binding.input(layerTensorName("past_keys_{layer}", l), keys[l]);
        binding.input(layerTensorName("past_values_{layer}", l), values[l]);
        binding.output(layerTensorName("present_keys_{layer}", l), keys[l]);
        binding.output(layerTensorName("present_values_{layer}", l), values[l]);
      }
      await binding.run();
    } finally {
      binding.clear();
      for (const tensor of [...owned, output]) tensor.release();
    }
    return inputs.map((input, b) => ({
      turns: Array.from({ length: turns }, (_, t) => readTurnRow(outputs, b * turns + t)),
      contextFull: cache.advance(input.slot, positions, generations[b]),
    }));
  }

  /**
   * Releases the session once the steps asked for have finished (their native calls run off
   * the event loop and use it); later steps are refused. Release caches made by
   * {@linkcode createCache} first.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    this.#binding.release();
    this.#blankFrame.release();
    for (const owned of this.#noiseBank?.owned ?? []) owned.release();
    this.#session.release();
  }
}

const FRAME_DIMS = [1, PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3];
const NOISE_BANK_DIMS = [FLOW_NOISE_BANK_ROWS, SAMPLES_PER_MICRO_TURN];
