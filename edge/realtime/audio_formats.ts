/**
 * The Realtime API's audio formats and their conversion to and from the pipeline's 16 kHz
 * 16-bit PCM: `audio/pcm` (16-bit little-endian, 24 kHz, mono), and G.711 `audio/pcmu`
 * (mu-law) and `audio/pcma` (A-law) at 8 kHz (ITU-T G.711). Rates change through a
 * polyphase windowed-sinc resampler that keeps its state across chunks, so a stream cut into
 * any sizes of chunk comes out the same.
 *
 * @module
 */
import { SAMPLE_RATE_HZ } from "../../protocol/media_format.ts";
import { l16Bytes, l16Samples } from "../../pipeline/l16_samples.ts";

/** A Realtime audio format. */
export type RealtimeAudioFormat = "audio/pcm" | "audio/pcmu" | "audio/pcma";

/** Sample rate of each format, Hz. */
export const FORMAT_RATE_HZ: Record<RealtimeAudioFormat, number> = {
  "audio/pcm": 24_000,
  "audio/pcmu": 8_000,
  "audio/pcma": 8_000,
};

/** Bytes of one sample of each format on the wire. */
export const FORMAT_SAMPLE_BYTES: Record<RealtimeAudioFormat, number> = {
  "audio/pcm": 2,
  "audio/pcmu": 1,
  "audio/pcma": 1,
};

/** Half-width of the resampling filter, in input samples. */
const HALF_WIDTH = 16;

/** Changes the sample rate of a stream by `up / down`, chunk by chunk. */
export class Resampler {
  readonly #up: number;
  readonly #down: number;
  /** Filter taps per phase: `2 * HALF_WIDTH` each, for input offsets -HALF_WIDTH+1..HALF_WIDTH. */
  readonly #phases: Float32Array[];
  /** Input not yet consumed, starting at absolute input index `#base`. */
  #input = new Float32Array(HALF_WIDTH);
  #length = HALF_WIDTH;
  #base = -HALF_WIDTH;
  /** Absolute index of the next output sample. */
  #next = 0;

  /**
   * @param fromHz input rate
   * @param toHz output rate
   */
  constructor(fromHz: number, toHz: number) {
    const divisor = gcd(fromHz, toHz);
    this.#up = toHz / divisor;
    this.#down = fromHz / divisor;
    // Low-pass at 92 % of the lower Nyquist frequency, in cycles per input sample.
    const cutoff = 0.5 * Math.min(1, this.#up / this.#down) * 0.92;
    this.#phases = Array.from({ length: this.#up }, (_, phase) => {
      const taps = new Float32Array(2 * HALF_WIDTH);
      let sum = 0;
      for (let j = 0; j < taps.length; j++) {
        const k = j - HALF_WIDTH + 1;
        const t = phase / this.#up - k;
        const x = 2 * cutoff * t;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const window = 0.5 + 0.5 * Math.cos((Math.PI * t) / HALF_WIDTH);
        taps[j] = Math.abs(t) < HALF_WIDTH ? 2 * cutoff * sinc * window : 0;
        sum += taps[j];
      }
      return taps.map((tap) => tap / sum); // unity gain at DC
    });
  }

  /** Resamples the next chunk; outputs what the input so far determines. */
  push(samples: Int16Array): Int16Array {
    this.#append(samples);
    const output: number[] = [];
    for (;;) {
      const position = this.#next * this.#down;
      const center = Math.floor(position / this.#up);
      if (center + HALF_WIDTH >= this.#base + this.#length) break;
      const taps = this.#phases[position % this.#up];
      const start = center - HALF_WIDTH + 1 - this.#base;
      let sum = 0;
      for (let j = 0; j < taps.length; j++) sum += taps[j] * this.#input[start + j];
      output.push(Math.max(-32768, Math.min(32767, Math.round(sum))));
      this.#next++;
    }
    // Keep only what the next outputs still read.
    const keepFrom = Math.floor((this.#next * this.#down) / this.#up) - HALF_WIDTH + 1;
    const drop = Math.max(0, keepFrom - this.#base);
    this.#input.copyWithin(0, drop, this.#length);
    this.#length -= drop;
    this.#base += drop;
    return Int16Array.from(output);
  }

  #append(samples: Int16Array): void {
    if (this.#length + samples.length > this.#input.length) {
      const grown = new Float32Array(
        Math.max(2 * this.#input.length, this.#length + samples.length),
      );
      grown.set(this.#input.subarray(0, this.#length));
      this.#input = grown;
    }
    this.#input.set(samples, this.#length);
    this.#length += samples.length;
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Decodes a format's bytes to samples at its own rate. */
export function decodeFormat(format: RealtimeAudioFormat, bytes: Uint8Array): Int16Array {
  if (format === "audio/pcm") return l16Samples(bytes);
  const decode = format === "audio/pcmu" ? ulawToLinear : alawToLinear;
  return Int16Array.from(bytes, decode);
}

/** Encodes samples (at the format's rate) to the format's bytes. */
export function encodeFormat(format: RealtimeAudioFormat, samples: Int16Array): Uint8Array {
  if (format === "audio/pcm") return l16Bytes(samples);
  const encode = format === "audio/pcmu" ? linearToUlaw : linearToAlaw;
  return Uint8Array.from(samples, encode);
}

/** Resamplers between a format's rate and the pipeline's 16 kHz. */
export function resamplersFor(format: RealtimeAudioFormat): { in: Resampler; out: Resampler } {
  return {
    in: new Resampler(FORMAT_RATE_HZ[format], SAMPLE_RATE_HZ),
    out: new Resampler(SAMPLE_RATE_HZ, FORMAT_RATE_HZ[format]),
  };
}

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** G.711 mu-law: one 16-bit sample to its code. */
export function linearToUlaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(ULAW_CLIP, Math.abs(sample)) + ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = sign | (exponent << 4) | mantissa;
  return ~magnitude & 0xff;
}

/** G.711 mu-law: one code to its 16-bit sample. */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

const ALAW_SEGMENT_ENDS = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

/** G.711 A-law: one 16-bit sample to its code. */
export function linearToAlaw(sample: number): number {
  let pcm = sample >> 3;
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const segment = ALAW_SEGMENT_ENDS.findIndex((end) => pcm <= end);
  if (segment < 0) return 0x7f ^ mask;
  const code = (segment << 4) | ((segment < 2 ? pcm >> 1 : pcm >> segment) & 0x0f);
  return code ^ mask;
}

/** G.711 A-law: one code to its 16-bit sample. */
export function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let magnitude = (a & 0x0f) << 4;
  const segment = (a & 0x70) >> 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return a & 0x80 ? magnitude : -magnitude;
}
