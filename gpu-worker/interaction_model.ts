/**
 * An interaction model loaded into onnxruntime-node: checks the file against the model
 * contract at load, then runs batched steps. One step advances every session in the batch
 * by one micro-turn; the caller owns each session's state between steps.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import {
  CONTROL_CLASSES,
  MODEL_INPUTS,
  MODEL_OUTPUTS,
  type TensorSpec,
  TEXT_BYTES_PER_MICRO_TURN,
} from "./model/model_contract.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";
import type { ControlAction } from "../protocol/worker_link.ts";

/** Execution providers the worker can be configured with. */
export type ExecutionProvider = "cpu" | "webgpu" | "cuda";

/** Raised when a model file does not match the contract; the message names the mismatch. */
export class ModelContractError extends Error {
  /** @param mismatch what differs from the contract */
  constructor(mismatch: string) {
    super(`model does not match the interaction-model contract: ${mismatch}`);
    this.name = "ModelContractError";
  }
}

/** One session's input to a step. */
export interface ModelStepInput {
  /** dMel codes of one micro-turn, `DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS` bytes. */
  dmel: Uint8Array;
  /** Up to `TEXT_BYTES_PER_MICRO_TURN` UTF-8 bytes of user text. */
  text: Uint8Array;
  /** Wall-clock seconds since the session started (the model's sense of time). */
  elapsedSeconds: number;
  /** The session's state before this micro-turn. */
  state: Float32Array;
}

/** One session's output of a step. */
export interface ModelStepOutput {
  /** 200 ms of 16 kHz audio in [-1, 1]. */
  audio: Float32Array;
  /** The text head's chosen byte (0: no text). */
  textByte: number;
  /** The control head's decision. */
  control: ControlAction;
  /** The session's state after this micro-turn. */
  state: Float32Array;
}

/** A loaded, contract-checked interaction model. */
export class InteractionModel {
  readonly #session: ort.InferenceSession;
  /** Width of the per-session state vector. */
  readonly stateWidth: number;
  /** Name for logs. */
  readonly name: string;

  private constructor(session: ort.InferenceSession, stateWidth: number, name: string) {
    this.#session = session;
    this.stateWidth = stateWidth;
    this.name = name;
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
      const stateWidth = checkContract(session);
      return new InteractionModel(session, stateWidth, options.name);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** Runs one batched step: every input advances its session by one micro-turn. */
  async step(inputs: ModelStepInput[]): Promise<ModelStepOutput[]> {
    const batch = inputs.length;
    const dmelSize = DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS;
    const dmel = new BigInt64Array(batch * dmelSize);
    const text = new BigInt64Array(batch * TEXT_BYTES_PER_MICRO_TURN);
    const elapsed = new Float32Array(batch);
    const state = new Float32Array(batch * this.stateWidth);
    inputs.forEach((input, b) => {
      for (let i = 0; i < Math.min(dmelSize, input.dmel.length); i++) {
        dmel[b * dmelSize + i] = BigInt(input.dmel[i]);
      }
      for (let i = 0; i < Math.min(TEXT_BYTES_PER_MICRO_TURN, input.text.length); i++) {
        text[b * TEXT_BYTES_PER_MICRO_TURN + i] = BigInt(input.text[i]);
      }
      elapsed[b] = input.elapsedSeconds;
      state.set(input.state, b * this.stateWidth);
    });
    const results = await this.#session.run({
      dmel_codes: new ort.Tensor("int64", dmel, [batch, DMEL_FRAMES_PER_MICRO_TURN, DMEL_BINS]),
      text_bytes: new ort.Tensor("int64", text, [batch, TEXT_BYTES_PER_MICRO_TURN]),
      elapsed_s: new ort.Tensor("float32", elapsed, [batch, 1]),
      state: new ort.Tensor("float32", state, [batch, this.stateWidth]),
    });
    const audio = results.audio.data as Float32Array;
    const textLogits = results.text_logits.data as Float32Array;
    const controlLogits = results.control_logits.data as Float32Array;
    const stateOut = results.state_out.data as Float32Array;
    const vocabulary = textLogits.length / batch;
    return inputs.map((_, b) => ({
      audio: audio.slice(b * SAMPLES_PER_MICRO_TURN, (b + 1) * SAMPLES_PER_MICRO_TURN),
      textByte: argmax(textLogits, b * vocabulary, vocabulary),
      control:
        CONTROL_CLASSES[argmax(controlLogits, b * CONTROL_CLASSES.length, CONTROL_CLASSES.length)],
      state: stateOut.slice(b * this.stateWidth, (b + 1) * this.stateWidth),
    }));
  }

  /** Releases the onnxruntime session. */
  async close(): Promise<void> {
    await this.#session.release();
  }
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/** Checks names, element types and shapes; returns the state width. */
function checkContract(session: ort.InferenceSession): number {
  const stateInput = session.inputMetadata.find((m) => m.name === "state");
  const stateWidth = stateInput?.isTensor ? stateInput.shape[1] : undefined;
  if (typeof stateWidth !== "number" || stateWidth <= 0) {
    throw new ModelContractError(`input "state" must have a fixed width as its second dimension`);
  }
  const check = (
    kind: string,
    specs: readonly TensorSpec[],
    actual: readonly ort.InferenceSession.ValueMetadata[],
  ) => {
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
      const dims = spec.dims.map((d) => d === "state" ? stateWidth : d);
      const shape = meta.shape;
      const fits = shape.length === dims.length &&
        dims.every((d, i) =>
          d === "batch" ? typeof shape[i] !== "number" || shape[i] === -1 : shape[i] === d
        );
      if (!fits) {
        throw new ModelContractError(
          `${kind} "${spec.name}" has shape [${shape.join(", ")}], expected [${dims.join(", ")}]`,
        );
      }
    }
  };
  check("input", MODEL_INPUTS, session.inputMetadata);
  check("output", MODEL_OUTPUTS, session.outputMetadata);
  return stateWidth;
}
