/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Microphone capture and Opus encoding: getUserMedia -> an AudioWorklet that hands over every
 * render quantum -> 48 kHz mono (resampled when the context runs at another rate) -> 20 ms
 * frames -> Opus (in-band FEC, 24 kbit/s): WebCodecs' AudioEncoder where the browser has one
 * for Opus, else libopus compiled to WebAssembly (the same build the edge decodes with) ->
 * one payload per frame.
 *
 * @module
 */
import { loadWorklets } from "./worklets.ts";
import { installOpusWasm, OpusEncoder } from "../../pipeline/opus_codec.ts";

/** Opus frames are encoded at 48 kHz: 960 samples a 20 ms frame. */
const OPUS_RATE = 48_000;
const FRAME_SAMPLES = 960;

/** Raised when the browser can encode Opus neither with WebCodecs nor with WebAssembly. */
export class OpusUnsupportedError extends Error {
  constructor() {
    super("this browser can encode Opus neither with WebCodecs nor with WebAssembly");
    this.name = "OpusUnsupportedError";
  }
}

/** Which Opus encoder to use: WebCodecs when the browser has it (`auto`), or libopus in wasm. */
export type OpusEncoderChoice = "auto" | "webcodecs" | "wasm";

/** Turns 20 ms of 48 kHz float samples into an Opus payload (now or later). */
interface FrameEncoder {
  kind: "webcodecs" | "wasm";
  encode(samples: Float32Array<ArrayBuffer>, timestampUs: number): void;
  close(): Promise<void>;
}

/** One encoded 20 ms frame. */
export interface EncodedFrame {
  /** Opus payload. */
  payload: Uint8Array;
  /** RMS level of the frame, 0..1, for a level meter. */
  level: number;
}

/** A running microphone; stop it to release the device. */
export class Microphone {
  readonly #stream: MediaStream;
  readonly #context: AudioContext;
  readonly #node: AudioWorkletNode;
  readonly #encoder: FrameEncoder;
  #pending = new Float32Array(FRAME_SAMPLES);
  #filled = 0;
  #frames = 0;
  readonly #levels: number[];
  #carry = 0;
  #last = 0;

  private constructor(
    stream: MediaStream,
    context: AudioContext,
    node: AudioWorkletNode,
    encoder: FrameEncoder,
    levels: number[],
  ) {
    this.#levels = levels;
    this.#stream = stream;
    this.#context = context;
    this.#node = node;
    this.#encoder = encoder;
  }

  /**
   * Asks for the microphone and starts encoding; `onFrame` gets each 20 ms frame. Opus comes
   * from WebCodecs where the browser has it, else from libopus in WebAssembly, fetched from
   * `wasmUrl` (the edge serves it at `/client/opus.wasm`).
   */
  static async open(
    onFrame: (frame: EncodedFrame) => void,
    options: { encoder?: OpusEncoderChoice; wasmUrl?: string } = {},
  ): Promise<Microphone> {
    // Levels of frames handed to the encoder, in order, for the frames it gives back.
    const levels: number[] = [];
    const encoder = await openEncoder(
      options.encoder ?? "auto",
      options.wasmUrl ?? "/client/opus.wasm",
      (payload) => onFrame({ payload, level: levels.shift() ?? 0 }),
    );
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    const context = new AudioContext({ sampleRate: OPUS_RATE });
    await loadWorklets(context);
    const node = new AudioWorkletNode(context, "capture");
    const microphone = new Microphone(stream, context, node, encoder, levels);
    node.port.onmessage = (event) => microphone.#take(event.data as Float32Array);
    context.createMediaStreamSource(stream).connect(node);
    return microphone;
  }

  /** Which Opus encoder runs: WebCodecs, or libopus in WebAssembly. */
  get encoder(): "webcodecs" | "wasm" {
    return this.#encoder.kind;
  }

  /** Stops capture and releases the device. */
  async stop(): Promise<void> {
    this.#node.port.onmessage = null;
    for (const track of this.#stream.getTracks()) track.stop();
    await this.#encoder.close();
    await this.#context.close();
  }

  /** Resumes the audio context (browsers suspend it in background tabs). */
  async resume(): Promise<void> {
    if (this.#context.state === "suspended") await this.#context.resume();
  }

  /** Takes one render quantum, resampled to 48 kHz, into 20 ms frames. */
  #take(input: Float32Array): void {
    const ratio = this.#context.sampleRate / OPUS_RATE;
    if (ratio === 1) return this.#push(input);
    // Linear resampling: positions advance by `ratio` input samples per output sample.
    const out: number[] = [];
    let position = this.#carry;
    while (position < input.length) {
      const i = Math.floor(position);
      const next = i + 1 < input.length ? input[i + 1] : input[i];
      const previous = i < 0 ? this.#last : input[i];
      out.push(previous + (next - previous) * (position - i));
      position += ratio;
    }
    this.#carry = position - input.length;
    this.#last = input[input.length - 1];
    this.#push(Float32Array.from(out));
  }

  #push(samples: Float32Array): void {
    let at = 0;
    while (at < samples.length) {
      const take = Math.min(FRAME_SAMPLES - this.#filled, samples.length - at);
      this.#pending.set(samples.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === FRAME_SAMPLES) this.#encode();
    }
  }

  #encode(): void {
    let sum = 0;
    for (const sample of this.#pending) sum += sample * sample;
    this.#levels.push(Math.sqrt(sum / FRAME_SAMPLES));
    this.#encoder.encode(
      this.#pending,
      Math.round((this.#frames++ * FRAME_SAMPLES * 1e6) / OPUS_RATE),
    );
    this.#pending = new Float32Array(FRAME_SAMPLES);
    this.#filled = 0;
  }
}

/** The WebCodecs encoder's settings: Opus, 20 ms frames, in-band FEC. */
const WEBCODECS_CONFIG: AudioEncoderConfig = {
  codec: "opus",
  sampleRate: OPUS_RATE,
  numberOfChannels: 1,
  bitrate: 24_000,
  // deno-lint-ignore no-explicit-any
  ...({ opus: { frameDuration: 20_000, useinbandfec: true, complexity: 5 } } as any),
};

/** Picks and opens an encoder; `output` gets each payload in order. */
async function openEncoder(
  choice: OpusEncoderChoice,
  wasmUrl: string,
  output: (payload: Uint8Array) => void,
): Promise<FrameEncoder> {
  const webCodecs = choice !== "wasm" && typeof AudioEncoder !== "undefined" &&
    (await AudioEncoder.isConfigSupported(WEBCODECS_CONFIG)).supported;
  if (webCodecs) {
    const encoder = new AudioEncoder({
      output: (chunk) => {
        const payload = new Uint8Array(chunk.byteLength);
        chunk.copyTo(payload);
        output(payload);
      },
      error: (error) => console.error("opus encoder", error),
    });
    encoder.configure(WEBCODECS_CONFIG);
    return {
      kind: "webcodecs",
      encode: (samples, timestamp) =>
        encoder.encode(
          new AudioData({
            format: "f32",
            sampleRate: OPUS_RATE,
            numberOfFrames: samples.length,
            numberOfChannels: 1,
            timestamp,
            data: samples,
          }),
        ),
      close: async () => {
        await encoder.flush().catch(() => {});
        encoder.close();
      },
    };
  }
  if (choice === "webcodecs") throw new OpusUnsupportedError();
  try {
    const response = await fetch(wasmUrl);
    if (!response.ok) throw new Error(`${wasmUrl}: ${response.status}`);
    installOpusWasm(await response.arrayBuffer());
  } catch {
    throw new OpusUnsupportedError();
  }
  const encoder = new OpusEncoder({ sampleRate: OPUS_RATE, bitrate: 24_000 });
  const pcm = new Int16Array(FRAME_SAMPLES);
  return {
    kind: "wasm",
    encode: (samples) => {
      for (let i = 0; i < samples.length; i++) {
        pcm[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32767)));
      }
      output(encoder.encode(pcm.subarray(0, samples.length)));
    },
    close: () => Promise.resolve(encoder.close()),
  };
}
