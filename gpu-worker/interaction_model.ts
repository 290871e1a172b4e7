/**
 * An interaction model loaded into onnxruntime-node: checks the file against the
 * `interaction-v1` contract at load (naming the first mismatch), reads its key/value cache
 * geometry, then runs batched steps. A step advances each session in the batch by one or more
 * micro-turns given its cached keys and values; the runtime owns the cache and appends the
 * new positions' keys and values the step returns.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import {
  type CacheGeometry,
  CONTROL_CLASSES,
  layerTensorName,
  MODEL_INPUTS,
  MODEL_OUTPUTS,
  POSITIONS_PER_MICRO_TURN,
  type TensorSpec,
  TEXT_BYTES_PER_MICRO_TURN,
  TEXT_VOCABULARY,
} from "./model/model_contract.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  PATCH_BYTES,
  PATCHES_PER_FRAME,
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";
import type { ControlAction } from "../protocol/worker_link.ts";

/** Execution providers the worker can be configured with. */
export type ExecutionProvider = "cpu" | "webgpu" | "cuda";

/** Raised when a model file does not match the contract; the message names the mismatch. */
export class ModelContractError extends Error {
  /** @param mismatch what differs from the contract */
  constructor(mismatch: string) {
    super(`model does not match the interaction-v1 contract: ${mismatch}`);
    this.name = "ModelContractError";
  }
}

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

/** A session's cached context, as the runtime holds it. */
export interface CacheView {
  /** Keys, `layers * heads * window * headSize`, layer-major. */
  keys: Float32Array;
  /** Values, same layout. */
  values: Float32Array;
  /** 1 for each filled cache position, 0 for empty ones: `window` values. */
  mask: Float32Array;
}

/** One session's share of a step. */
export interface SessionStep {
  /** Micro-turns to append (every session of a batch must bring the same number). */
  turns: TurnInput[];
  /** Absolute position of the first new position (for rotary embeddings). */
  position: number;
  /** The session's cached context. */
  cache: CacheView;
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
  /** The new positions' keys: `layers * heads * positions * headSize`. */
  newKeys: Float32Array;
  /** The new positions' values, same layout. */
  newValues: Float32Array;
}

/** A loaded, contract-checked interaction model. */
export class InteractionModel {
  readonly #session: ort.InferenceSession;
  /** The key/value cache geometry the model declares. */
  readonly geometry: CacheGeometry;
  /** Name for logs. */
  readonly name: string;
  /** Floats in one session's keys (or values). */
  readonly cacheFloats: number;
  #stagingKeys = new Float32Array(0);
  #stagingValues = new Float32Array(0);

  private constructor(session: ort.InferenceSession, geometry: CacheGeometry, name: string) {
    this.#session = session;
    this.geometry = geometry;
    this.name = name;
    this.cacheFloats = geometry.layers * geometry.heads * geometry.window * geometry.headSize;
  }

  /**
   * Loads a model from bytes or a file path and checks it against the contract.
   * Throws {@linkcode ModelContractError} naming the first mismatch.
   */
  static async load(
    source: Uint8Array | string,
    options: { name: string; executionProvider?: ExecutionProvider },
  ): Promise<InteractionModel> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.executionProvider ?? "cpu"],
      graphOptimizationLevel: "all",
    };
    const session = typeof source === "string"
      ? await ort.InferenceSession.create(source, sessionOptions)
      : await ort.InferenceSession.create(source, sessionOptions);
    try {
      return new InteractionModel(session, checkContract(session), options.name);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** Runs one batched step. */
  async step(inputs: SessionStep[]): Promise<SessionStepOutput[]> {
    const batch = inputs.length;
    const turns = inputs[0].turns.length;
    if (inputs.some((input) => input.turns.length !== turns)) {
      throw new RangeError("every session of a step must bring the same number of micro-turns");
    }
    const { window } = this.geometry;
    const rows = batch * turns;
    const dmelSize = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;
    const imageSize = PATCHES_PER_FRAME * PATCH_BYTES;
    const dmel = new BigInt64Array(rows * dmelSize);
    const text = new BigInt64Array(rows * TEXT_BYTES_PER_MICRO_TURN);
    const patches = new Uint8Array(rows * imageSize);
    const imagePresent = new Float32Array(rows);
    const elapsed = new Float32Array(rows);
    const noise = new Float32Array(rows * SAMPLES_PER_MICRO_TURN);
    const position = new BigInt64Array(batch);
    const mask = new Float32Array(batch * window);
    const keys = this.#staging("keys", batch);
    const values = this.#staging("values", batch);
    inputs.forEach((input, b) => {
      input.turns.forEach((turn, t) => {
        const row = b * turns + t;
        for (let i = 0; i < dmelSize; i++) dmel[row * dmelSize + i] = BigInt(turn.dmel[i] ?? 0);
        const textLength = Math.min(TEXT_BYTES_PER_MICRO_TURN, turn.text.length);
        for (let i = 0; i < textLength; i++) {
          text[row * TEXT_BYTES_PER_MICRO_TURN + i] = BigInt(turn.text[i]);
        }
        if (turn.patches?.length === imageSize) {
          patches.set(turn.patches, row * imageSize);
          imagePresent[row] = 1;
        }
        elapsed[row] = turn.elapsedSeconds;
        noise.set(turn.noise, row * SAMPLES_PER_MICRO_TURN);
      });
      position[b] = BigInt(input.position);
      // Staged layer-major, so each layer's batch is one contiguous tensor.
      const layerFloats = this.cacheFloats / this.geometry.layers;
      for (let l = 0; l < this.geometry.layers; l++) {
        const from = l * layerFloats;
        const to = (l * batch + b) * layerFloats;
        keys.set(input.cache.keys.subarray(from, from + layerFloats), to);
        values.set(input.cache.values.subarray(from, from + layerFloats), to);
      }
      mask.set(input.cache.mask, b * window);
    });
    const { layers, heads, headSize } = this.geometry;
    const layerFloats = this.cacheFloats / layers;
    const layerDims = [batch, heads, window, headSize];
    const cacheFeeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < layers; l++) {
      const block = [l * batch * layerFloats, (l + 1) * batch * layerFloats];
      cacheFeeds[`past_keys_${l}`] = new ort.Tensor("float32", keys.subarray(...block), layerDims);
      cacheFeeds[`past_values_${l}`] = new ort.Tensor(
        "float32",
        values.subarray(...block),
        layerDims,
      );
    }
    const results = await this.#session.run({
      ...cacheFeeds,
      dmel_codes: new ort.Tensor("int64", dmel, [
        batch,
        turns,
        DMEL_FRAMES_PER_MICRO_TURN,
        DMEL_BINS,
      ]),
      text_bytes: new ort.Tensor("int64", text, [batch, turns, TEXT_BYTES_PER_MICRO_TURN]),
      patches: new ort.Tensor("uint8", patches, [batch, turns, PATCHES_PER_FRAME, 40, 40, 3]),
      image_present: new ort.Tensor("float32", imagePresent, [batch, turns]),
      elapsed_s: new ort.Tensor("float32", elapsed, [batch, turns]),
      position: new ort.Tensor("int64", position, [batch]),
      past_mask: new ort.Tensor("float32", mask, [batch, window]),
      noise: new ort.Tensor("float32", noise, [
        batch,
        turns,
        POSITIONS_PER_MICRO_TURN,
        SAMPLES_PER_FRAME,
      ]),
    });
    const audio = results.audio.data as Float32Array;
    const textLogits = results.text_logits.data as Float32Array;
    const controlLogits = results.control_logits.data as Float32Array;
    const newKeys = results.new_keys.data as Float32Array;
    const newValues = results.new_values.data as Float32Array;
    const newFloats = newKeys.length / batch;
    return inputs.map((_, b) => ({
      turns: Array.from({ length: turns }, (_, t) => {
        const row = b * turns + t;
        return {
          audio: audio.slice(row * SAMPLES_PER_MICRO_TURN, (row + 1) * SAMPLES_PER_MICRO_TURN),
          textByte: argmax(textLogits, row * TEXT_VOCABULARY, TEXT_VOCABULARY),
          control: CONTROL_CLASSES[
            argmax(controlLogits, row * CONTROL_CLASSES.length, CONTROL_CLASSES.length)
          ],
        };
      }),
      newKeys: newKeys.subarray(b * newFloats, (b + 1) * newFloats),
      newValues: newValues.subarray(b * newFloats, (b + 1) * newFloats),
    }));
  }

  /** Releases the onnxruntime session. */
  async close(): Promise<void> {
    await this.#session.release();
  }

  /** A staging buffer for `batch` sessions' caches, reused between steps. */
  #staging(kind: "keys" | "values", batch: number): Float32Array {
    const needed = batch * this.cacheFloats;
    if (kind === "keys" && this.#stagingKeys.length < needed) {
      this.#stagingKeys = new Float32Array(needed);
    }
    if (kind === "values" && this.#stagingValues.length < needed) {
      this.#stagingValues = new Float32Array(needed);
    }
    return kind === "keys" ? this.#stagingKeys : this.#stagingValues;
  }
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/** Checks names, element types and shapes; returns the cache geometry. */
function checkContract(session: ort.InferenceSession): CacheGeometry {
  // At least one layer: a model with none is then told every per-layer input it lacks.
  const layers = Math.max(
    1,
    session.inputMetadata.filter((m) => /^past_keys_\d+$/.test(m.name)).length,
  );
  const fixed = new Map<string, number>([["cache:layers", layers]]);
  const expand = (specs: readonly TensorSpec[]) =>
    specs.flatMap((spec) =>
      spec.name.includes("{layer}")
        ? Array.from({ length: layers }, (_, l) => ({
          ...spec,
          name: layerTensorName(spec.name, l),
        }))
        : [spec]
    );
  const check = (
    kind: string,
    templates: readonly TensorSpec[],
    actual: readonly ort.InferenceSession.ValueMetadata[],
  ) => {
    const specs = expand(templates);
    const names = actual.map((m) => m.name);
    const expected = specs.map((s) => s.name);
    const missing = expected.filter((name) => !names.includes(name));
    const extra = names.filter((name) => !expected.includes(name));
    if (missing.length || extra.length) {
      throw new ModelContractError(
        `${kind}s ${missing.length ? `missing [${missing.join(", ")}]` : ""}${
          missing.length && extra.length ? ", " : ""
        }${extra.length ? `unexpected [${extra.join(", ")}]` : ""}`,
      );
    }
    for (const spec of specs) {
      const meta = actual.find((m) => m.name === spec.name)!;
      if (!meta.isTensor || meta.type !== spec.type) {
        throw new ModelContractError(
          `${kind} "${spec.name}" is ${
            meta.isTensor ? meta.type : "not a tensor"
          }, expected ${spec.type}`,
        );
      }
      const shape = meta.shape;
      const wrong = () =>
        new ModelContractError(
          `${kind} "${spec.name}" has shape [${shape.join(", ")}], expected [${
            spec.dims.join(", ")
          }]`,
        );
      if (shape.length !== spec.dims.length) throw wrong();
      spec.dims.forEach((dim, i) => {
        const actualDim = shape[i];
        const symbolic = typeof actualDim !== "number" || actualDim < 0;
        if (typeof dim === "number") {
          if (actualDim !== dim) throw wrong();
        } else if (dim.startsWith("cache:")) {
          if (symbolic || (fixed.has(dim) && fixed.get(dim) !== actualDim)) throw wrong();
          fixed.set(dim, actualDim as number);
        } else if (!symbolic) {
          throw wrong();
        }
      });
    }
  };
  check("input", MODEL_INPUTS, session.inputMetadata);
  check("output", MODEL_OUTPUTS, session.outputMetadata);
  const geometry = {
    layers: fixed.get("cache:layers")!,
    heads: fixed.get("cache:heads")!,
    window: fixed.get("cache:window")!,
    headSize: fixed.get("cache:head_size")!,
  };
  if (geometry.window % POSITIONS_PER_MICRO_TURN !== 0) {
    throw new ModelContractError(
      `cache window ${geometry.window} is not a multiple of ${POSITIONS_PER_MICRO_TURN}`,
    );
  }
  return geometry;
}
