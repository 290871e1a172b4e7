/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Microphone capture and Opus encoding: getUserMedia -> an AudioWorklet that hands over every
 * render quantum -> 16 kHz mono, the band the edge hears (pipeline/dmel.ts), low-passed and
 * resampled from the context's rate (./resampler.ts) -> 20 ms frames -> Opus: WebCodecs'
 * AudioEncoder where the browser has one for Opus, else libopus compiled to WebAssembly (the
 * same build the edge decodes with) -> one payload per frame, a frame under the silence
 * floor an empty one (pipeline/silence_floor.ts).
 *
 * The encoder's settings are chosen by measurement (bench:uplink, libopus with the same
 * settings): speech-tuned (`voip`) wideband SILK at up to 24 kbit/s with in-band FEC sized for
 * 5 % loss, and the silence floor. Against what WebCodecs made of the SDK's old request (48 kHz
 * in, fullband CELT, 24 kbit/s, no FEC for want of an expected loss), on the speech fixture:
 * 0.60x the bits on the wire, 0.45x the edge's decoding time and 0.65x its dMel time, and dMel
 * codes a third as far from those of the microphone's own samples. (WebCodecs' `usedtx` drops
 * silent frames' outputs altogether, which the SDK could tell from a slow output only by
 * waiting: the silence floor decides at once, the same way for both encoders.)
 *
 * @module
 */
import { loadWorklets } from "./worklets.ts";
import { Resampler } from "./resampler.ts";
import { installOpusWasm, OpusEncoder } from "../../pipeline/opus_codec.ts";
import { SilenceGate } from "../../pipeline/silence_floor.ts";
import { SAMPLE_RATE_HZ, SAMPLES_PER_FRAME } from "../../protocol/media_format.ts";

/** The rate the SDK asks the audio context for (browsers resample the microphone to it). */
const CAPTURE_RATE = 48_000;

/** Raised when the browser can encode Opus neither with WebCodecs nor with WebAssembly. */
export class OpusUnsupportedError extends Error {
  constructor() {
    super("this browser can encode Opus neither with WebCodecs nor with WebAssembly");
    this.name = "OpusUnsupportedError";
  }
}

/** Which Opus encoder to use: WebCodecs when the browser has it (`auto`), or libopus in wasm. */
export type OpusEncoderChoice = "auto" | "webcodecs" | "wasm";

/** Turns 20 ms of 16 kHz float samples into an Opus payload (now or later). */
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
  readonly #resampler: Resampler;
  #pending = new Float32Array(SAMPLES_PER_FRAME);
  #filled = 0;
  #frames = 0;
  readonly #levels: number[];

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
    this.#resampler = new Resampler(context.sampleRate, SAMPLE_RATE_HZ);
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
    const gate = new SilenceGate();
    const encoder = await openEncoder(
      options.encoder ?? "auto",
      options.wasmUrl ?? "/client/opus.wasm",
      (payload) => {
        const level = levels.shift() ?? 0;
        onFrame({ payload: gate.pass(payload, level), level });
      },
    );
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    const context = new AudioContext({ sampleRate: CAPTURE_RATE });
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

  /** Takes one render quantum, resampled to 16 kHz, into 20 ms frames. */
  #take(input: Float32Array): void {
    const samples = this.#resampler.push(input);
    let at = 0;
    while (at < samples.length) {
      const take = Math.min(SAMPLES_PER_FRAME - this.#filled, samples.length - at);
      this.#pending.set(samples.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === SAMPLES_PER_FRAME) this.#encode();
    }
  }

  #encode(): void {
    let sum = 0;
    for (let i = 0; i < SAMPLES_PER_FRAME; i++) sum += this.#pending[i] * this.#pending[i];
    this.#levels.push(Math.sqrt(sum / SAMPLES_PER_FRAME));
    this.#encoder.encode(
      this.#pending,
      Math.round((this.#frames++ * SAMPLES_PER_FRAME * 1e6) / SAMPLE_RATE_HZ),
    );
    this.#pending = new Float32Array(SAMPLES_PER_FRAME);
    this.#filled = 0;
  }
}

/**
 * The WebCodecs encoder's settings (see the module doc): 16 kHz in, speech-tuned, 20 ms
 * frames, in-band FEC for 5 % loss (without an expected loss libopus puts none in).
 */
const WEBCODECS_CONFIG = {
  codec: "opus",
  sampleRate: SAMPLE_RATE_HZ,
  numberOfChannels: 1,
  bitrate: 24_000,
  // The DOM library's types predate WebCodecs' Opus settings.
  opus: {
    frameDuration: 20_000,
    application: "voip",
    signal: "voice",
    useinbandfec: true,
    packetlossperc: 5,
    complexity: 5,
  },
} as AudioEncoderConfig;

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
            sampleRate: SAMPLE_RATE_HZ,
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
  const encoder = new OpusEncoder({ sampleRate: SAMPLE_RATE_HZ, bitrate: 24_000 });
  const pcm = new Int16Array(SAMPLES_PER_FRAME);
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
