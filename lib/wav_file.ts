/**
 * Minimal RIFF/WAVE reader for 16-bit PCM, enough for speech fixtures and benchmark input.
 *
 * @module
 */

/** Raised for a file that is not 16-bit PCM WAV. */
export class UnsupportedWavError extends Error {
  /** @param reason what is unsupported */
  constructor(reason: string) {
    super(`unsupported WAV: ${reason}`);
    this.name = "UnsupportedWavError";
  }
}

/** Decoded WAV contents. */
export interface WavAudio {
  /** Samples per second. */
  sampleRate: number;
  /** Channel count. */
  channels: number;
  /** Interleaved samples. */
  samples: Int16Array;
}

/** Parses a 16-bit PCM WAV file. */
export function readWav(bytes: Uint8Array): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new UnsupportedWavError("no RIFF/WAVE header");
  }
  let format: { channels: number; sampleRate: number } | undefined;
  for (let offset = 12; offset + 8 <= bytes.length;) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      const encoding = view.getUint16(body, true);
      const bits = view.getUint16(body + 14, true);
      if (encoding !== 1 || bits !== 16) {
        throw new UnsupportedWavError(`encoding ${encoding} with ${bits} bits`);
      }
      format = {
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
      };
    } else if (id === "data") {
      if (!format) throw new UnsupportedWavError("data chunk before fmt chunk");
      const length = Math.min(size, bytes.length - body) >> 1;
      const samples = new Int16Array(length);
      for (let i = 0; i < length; i++) samples[i] = view.getInt16(body + 2 * i, true);
      return { ...format, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new UnsupportedWavError("no data chunk");
}
