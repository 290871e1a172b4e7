/**
 * What the codecs need from a libopus build: state objects and the three calls (init, ctl,
 * encode/decode). Two builds implement it: native libopus through Deno FFI
 * (pipeline/opus_native.ts) and the WebAssembly build (pipeline/opus_wasm.ts), which runs
 * everywhere, browsers included.
 *
 * @module
 */

/** Largest Opus packet (RFC 6716 §3.4: 1275 bytes a frame, up to 3 frames of 20 ms here). */
export const MAX_PACKET_BYTES = 4000;
/** Largest decode: 120 ms at 48 kHz, the longest an Opus packet can carry. */
export const MAX_FRAME_SAMPLES = 5760;
/** libopus's `OPUS_APPLICATION_VOIP`. */
export const OPUS_APPLICATION_VOIP = 2048;
/** libopus's `OPUS_APPLICATION_AUDIO`. */
export const OPUS_APPLICATION_AUDIO = 2049;

/** `samples` copied into `out` (a view of it is returned), or into a new array without one. */
export function copySamples(samples: Int16Array, out?: Int16Array): Int16Array {
  if (!out) return samples.slice();
  out.set(samples);
  return out.subarray(0, samples.length);
}

/** A libopus decoder state inside one build. */
export interface OpusDecoderState {
  /**
   * `opus_decode` into the build's scratch buffer; returns the sample count or a negative
   * libopus code. `packet` undefined asks for concealment.
   */
  decode(packet: Uint8Array | undefined, frameSamples: number, fec: number): number;
  /**
   * The samples the last {@linkcode decode} wrote, copied out: into `out` when given (it holds
   * at least `samples`; a view of it is returned), else into a new array.
   */
  take(samples: number, out?: Int16Array): Int16Array;
  /** Frees the state. */
  free(): void;
}

/** A libopus encoder state inside one build. */
export interface OpusEncoderState {
  /** `opus_encoder_ctl` with one integer argument; returns the libopus code. */
  ctl(request: number, value: number): number;
  /** `opus_encode` into the build's scratch buffer; returns the byte count or a negative code. */
  encode(pcm: Int16Array): number;
  /** The bytes the last {@linkcode encode} wrote, copied out. */
  take(bytes: number): Uint8Array;
  /** Frees the state. */
  free(): void;
}

/** One libopus build. */
export interface OpusLibrary {
  /** Which build: `native`, `wasm-simd` or `wasm`. */
  readonly name: string;
  /** Creates a mono decoder state, or returns the negative libopus code. */
  createDecoder(sampleRate: number): OpusDecoderState | number;
  /** Creates a mono encoder state, or returns the negative libopus code. */
  createEncoder(sampleRate: number, application: number): OpusEncoderState | number;
}
