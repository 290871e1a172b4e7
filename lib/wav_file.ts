/**
 * Minimal RIFF/WAVE reader and writer for 16-bit PCM: speech fixtures, benchmark input, and the
 * interactivity benchmark's `output.wav`.
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

/** Encodes mono or interleaved 16-bit PCM as a WAV file. */
export function encodeWav(samples: Int16Array, sampleRate: number, channels = 1): Uint8Array {
  const bytes = new Uint8Array(44 + samples.length * 2);
  const view = new DataView(bytes.buffer);
  const tag = (offset: number, text: string) => {
    for (let i = 0; i < 4; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  tag(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  tag(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + 2 * i, samples[i], true);
  return bytes;
}
