/**
 * Runs the reference background model: a prompt in, bytes out one at a time (greedy over
 * printable ASCII, so what it writes is always valid text), cancellable between bytes.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { buildBackgroundLm } from "./model/background_lm.ts";

/** A loaded background model. */
export class BackgroundLm {
  readonly #session: ort.InferenceSession;
  readonly #context: number;

  private constructor(session: ort.InferenceSession, context: number) {
    this.#session = session;
    this.#context = context;
  }

  /** Builds and loads the reference background model. */
  static async load(): Promise<BackgroundLm> {
    const built = buildBackgroundLm();
    return new BackgroundLm(await ort.InferenceSession.create(built.bytes), built.context);
  }

  /** Yields up to `maxBytes` characters continuing `prompt`; stops early when `signal` aborts. */
  async *generate(prompt: string, maxBytes: number, signal?: AbortSignal): AsyncGenerator<string> {
    const bytes = [...new TextEncoder().encode(prompt)];
    for (let n = 0; n < maxBytes; n++) {
      if (signal?.aborted) return;
      const window = bytes.slice(-this.#context);
      const tokens = new ort.Tensor("int64", BigInt64Array.from(window.map(BigInt)), [
        1,
        window.length,
      ]);
      const { logits } = await this.#session.run({ tokens });
      const values = logits.data as Float32Array;
      let best = 32;
      for (let byte = 33; byte < 127; byte++) if (values[byte] > values[best]) best = byte;
      bytes.push(best);
      yield String.fromCharCode(best);
    }
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await this.#session.release();
  }
}
