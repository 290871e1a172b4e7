/**
 * Linear PCM as bytes and back: 16-bit little-endian samples, the layout of the edge's `l16`
 * payload and of the Realtime API's `audio/pcm`.
 *
 * @module
 */

/** Samples as 16-bit little-endian bytes. */
export function l16Bytes(samples: Int16Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(2 * i, samples[i], true);
  return bytes;
}

/** 16-bit little-endian bytes as samples (a trailing odd byte is ignored). */
export function l16Samples(bytes: Uint8Array): Int16Array {
  const samples = new Int16Array(bytes.length >> 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(2 * i, true);
  return samples;
}
