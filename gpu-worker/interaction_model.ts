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
  CONTROL_CLASSES,
  layerTensorName,
  maxPositionsPerCall,
  POSITIONS_PER_MICRO_TURN,
  ROW_STATE,
  SLOT_STATE,
  TEXT_BYTES_PER_MICRO_TURN,
  TEXT_VOCABULARY,
  TURN_FLOATS,
  TURN_INTS,
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
import {
  type ExecutionProvider,
  type OrtIoBinding,
  OrtModelSession,
  type OrtTensor,
} from "./ort/ort_session.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  PATCH_BYTES,
  PATCH_SIDE,
  PATCHES_PER_FRAME,
} from "../protocol/media_format.ts";
import type { ControlAction } from "../protocol/worker_link.ts";

export { ModelContractError } from "./model/contract_check.ts";
export type { ExecutionProvider } from "./ort/ort_session.ts";

/** One micro-turn of input. */
export interface TurnInput {
  /** dMel codes: at least `DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS` bytes (extra are ignored). */
  dmel: Uint8Array;
  /** Up to `TEXT_BYTES_PER_MICRO_TURN` UTF-8 bytes of user text. */
  text: Uint8Array;
  /** The micro-turn's camera frame as `PATCHES_PER_FRAME` patches, or none. */
  patches?: Uint8Array;
  /** Wall-clock seconds since the session started. */
  elapsedSeconds: number;
  /** The flow head's starting noise: `SAMPLES_PER_MICRO_TURN` values. */
  noise: Float32Array;
}

/** One session's share of a step. */
export interface SessionStep {
  /** The session's cache slot. */
  slot: number;
  /** Micro-turns to append (every session of a batch must bring the same number). */
  turns: TurnInput[];
}

/** What one micro-turn produced. */
export interface TurnOutput {
  /** 200 ms of 16 kHz audio in [-1, 1]. */
  audio: Float32Array;
  /** The text head's chosen byte (0: no text). */
  textByte: number;
  /** The control head's decision. */
  control: ControlAction;
}

/** One session's result of a step. */
export interface SessionStepOutput {
  /** Per micro-turn. */
  turns: TurnOutput[];
  /**
   * Whether the session's window is now full (older context slides out); false when its slot
   * was emptied while the step ran.
   */
  contextFull: boolean;
}

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
}

const DMEL_SIZE = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;
const IMAGE_SIZE = PATCHES_PER_FRAME * PATCH_BYTES;

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
  /** Steps running now (settled either way). */
  readonly #running = new Set<Promise<void>>();
  #closed = false;
  /** The key/value cache geometry the model declares. */
  readonly geometry: CacheGeometry;
  /** Name for logs. */
  readonly name: string;
  /** Where the model runs. */
  readonly executionProvider: ExecutionProvider;
  /** Positions one call may append to a session. */
  readonly maxPositionsPerCall: number;

  private constructor(session: OrtModelSession, geometry: CacheGeometry, name: string) {
    this.#session = session;
    this.#binding = session.binding();
    // The blank frame of a step no micro-turn brings one to, kept where the model reads it
    // (a device tensor starts zeroed): most steps then copy no frame at all.
    this.#blankFrame = session.hasDeviceMemory
      ? session.deviceTensor("uint8", FRAME_DIMS)
      : session.hostTensor(new Uint8Array(IMAGE_SIZE), "uint8", FRAME_DIMS);
    this.geometry = geometry;
    this.name = name;
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
    const session = OrtModelSession.create(packStepIo(bytes), {
      executionProvider: options.executionProvider,
      providerOptions: options.providerOptions,
      libraryPath: options.libraryPath,
      threads: options.threads,
      profilePrefix: options.profilePrefix,
    });
    return new InteractionModel(session, geometry, options.name);
  }

  /**
   * Allocates the cache of `capacity` sessions in the provider's memory. Throws
   * `CacheCapacityError` (saying how many fit) when the device cannot hold it.
   */
  createCache(capacity: number): KvCacheSlots {
    return new KvCacheSlots(this.#session, capacity, this.geometry);
  }

  /**
   * Runs one batched step: each session's micro-turns are appended to its slot in `cache`
   * (in place) and their outputs returned. Every session must bring the same number of
   * micro-turns, at most {@linkcode maxPositionsPerCall} positions' worth.
   */
  step(inputs: SessionStep[], cache: KvCacheSlots): Promise<SessionStepOutput[]> {
    if (this.#closed) return Promise.reject(new ModelClosedError());
    const running = this.#step(inputs, cache);
    const settled = running.then(() => {}, () => {});
    this.#running.add(settled);
    settled.finally(() => this.#running.delete(settled));
    return running;
  }

  async #step(inputs: SessionStep[], cache: KvCacheSlots): Promise<SessionStepOutput[]> {
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
    const { cacheLength } = this.geometry;
    const span = cache.span;
    const rows = batch * turns;
    // Only the micro-turns that bring a frame send one; the rest point past the last frame.
    const frames = inputs.flatMap((input) =>
      input.turns.flatMap((turn) => turn.patches?.length === IMAGE_SIZE ? [turn.patches] : [])
    );
    const images = Math.max(1, frames.length);
    let nextImage = 0;
    const packed = new Float32Array(rows * PACKED_TURN.size);
    const rowState = new Float32Array(ROW_STATE.size);
    // Slots not in the step read the zero row after the batch's rows.
    const slotState = new Int32Array(span * SLOT_STATE.size);
    const setSlot = (slot: number, row: number, newest: number, filled: number) => {
      const at = slot * SLOT_STATE.size;
      slotState[at + SLOT_STATE.row] = row;
      slotState[at + SLOT_STATE.newest] = newest;
      slotState[at + SLOT_STATE.filled] = filled;
    };
    for (let slot = 0; slot < span; slot++) {
      setSlot(
        slot,
        batch,
        (cache.head(slot) + cacheLength - 1) % cacheLength,
        cache.ringFilled(slot),
      );
    }
    inputs.forEach((input, b) => {
      const { slot } = input;
      if (slot >= span || slotState[slot * SLOT_STATE.size + SLOT_STATE.row] !== batch) {
        throw new RangeError(`slot ${slot} is not in use or is stepped twice`);
      }
      rowState[ROW_STATE.position] = cache.position(slot);
      rowState[ROW_STATE.slot] = slot;
      rowState[ROW_STATE.cacheHead] = cache.head(slot);
      input.turns.forEach((turn, t) => {
        const at = (b * turns + t) * PACKED_TURN.size;
        const ints = at + PACKED_TURN.ints;
        packed.set(turn.dmel.subarray(0, DMEL_SIZE), ints + TURN_INTS.dmel);
        packed.set(turn.text.subarray(0, TEXT_BYTES_PER_MICRO_TURN), ints + TURN_INTS.text);
        packed[ints + TURN_INTS.imageIndex] = turn.patches?.length === IMAGE_SIZE
          ? nextImage++
          : images; // past the last frame: no frame
        const floats = at + PACKED_TURN.floats;
        packed[floats + TURN_FLOATS.elapsedSeconds] = turn.elapsedSeconds;
        packed.set(turn.noise, floats + TURN_FLOATS.noise);
        packed.set(rowState, at + PACKED_TURN.rowState);
      });
      setSlot(
        slot,
        b,
        (cache.head(slot) + positions - 1) % cacheLength,
        Math.min(cacheLength, cache.ringFilled(slot) + positions),
      );
    });
    const outputs = new Float32Array(rows * PACKED_OUTPUT.size);
    const s = this.#session;
    const owned: OrtTensor[] = [
      s.hostTensor(packed, "float32", [batch, turns, PACKED_TURN.size]),
      s.hostTensor(slotState, "int32", [span, SLOT_STATE.size]),
    ];
    if (frames.length > 0) {
      const patches = new Uint8Array(images * IMAGE_SIZE);
      frames.forEach((frame, i) => patches.set(frame, i * IMAGE_SIZE));
      owned.push(
        s.hostTensor(patches, "uint8", [images, PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3]),
      );
    }
    const output = s.hostTensor(outputs, "float32", [batch, turns, PACKED_OUTPUT.size]);
    const generations = inputs.map((input) => cache.generation(input.slot));
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
    const at = (row: number) => row * PACKED_OUTPUT.size;
    return inputs.map((input, b) => ({
      turns: Array.from({ length: turns }, (_, t) => {
        const row = b * turns + t;
        return {
          audio: outputs.slice(at(row) + PACKED_OUTPUT.audio, at(row) + PACKED_OUTPUT.textLogits),
          textByte: argmax(outputs, at(row) + PACKED_OUTPUT.textLogits, TEXT_VOCABULARY),
          control: CONTROL_CLASSES[
            argmax(outputs, at(row) + PACKED_OUTPUT.controlLogits, CONTROL_CLASSES.length)
          ],
        };
      }),
      contextFull: cache.advance(input.slot, positions, generations[b]),
    }));
  }

  /**
   * Releases the session once the steps running now have finished (their native calls run off
   * the event loop and use it); later steps are refused. Release caches made by
   * {@linkcode createCache} first.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#running);
    this.#binding.release();
    this.#blankFrame.release();
    this.#session.release();
  }
}

const FRAME_DIMS = [1, PATCHES_PER_FRAME, PATCH_SIDE, PATCH_SIDE, 3];

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}
