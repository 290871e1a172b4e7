import { speechFixture } from "../tests/support/speech_fixture.ts";
import assert from "node:assert/strict";
import {
  OpusCodecError,
  OpusDecoder,
  OpusEncoder,
  opusLibrary,
  OpusLibraryError,
} from "./opus_codec.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

const speech = speechFixture();

function energy(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return sum / samples.length;
}

Deno.test("Opus encodes and decodes 20 ms speech frames keeping the signal's energy", () => {
  const encoder = new OpusEncoder();
  const decoder = new OpusDecoder();
  let inputEnergy = 0;
  let outputEnergy = 0;
  for (let start = 0; start + SAMPLES_PER_FRAME <= speech.length; start += SAMPLES_PER_FRAME) {
    const frame = speech.subarray(start, start + SAMPLES_PER_FRAME);
    const packet = encoder.encode(frame);
    assert.ok(packet.length > 0 && packet.length < 200, `packet of ${packet.length} bytes`);
    const decoded = decoder.decode(packet);
    assert.equal(decoded.length, SAMPLES_PER_FRAME);
    inputEnergy += energy(frame);
    outputEnergy += energy(decoded);
  }
  const ratio = outputEnergy / inputEnergy;
  assert.ok(ratio > 0.5 && ratio < 1.5, `energy ratio ${ratio}`);
  encoder.close();
  decoder.close();
});

Deno.test("Opus conceals a lost frame and recovers one from in-band FEC", () => {
  const encoder = new OpusEncoder({ expectedLossPercent: 20 });
  const decoder = new OpusDecoder();
  const packets: Uint8Array[] = [];
  for (let i = 0; i < 60; i++) {
    packets.push(encoder.encode(speech.subarray(16000 + i * 320, 16000 + (i + 1) * 320)));
  }
  for (let i = 0; i < 30; i++) decoder.decode(packets[i]);
  assert.equal(decoder.conceal(SAMPLES_PER_FRAME).length, SAMPLES_PER_FRAME);
  decoder.decode(packets[31]);
  const recovered = decoder.recoverFromNext(packets[33], SAMPLES_PER_FRAME);
  assert.equal(recovered.length, SAMPLES_PER_FRAME);
  assert.ok(energy(recovered) > 0);
});

Deno.test("Opus rejects garbage with a typed error and keeps decoding afterwards", () => {
  const decoder = new OpusDecoder();
  const encoder = new OpusEncoder();
  assert.throws(() => decoder.decode(new Uint8Array([0xff, 0xff, 0xff, 0xff])), OpusCodecError);
  assert.throws(() => decoder.decode(new Uint8Array(5000)), OpusCodecError);
  assert.equal(decoder.decode(encoder.encode(speech.subarray(0, 320))).length, 320);
});

Deno.test("every libopus build here speaks the same Opus: native and WebAssembly decode each other", () => {
  const builds = ["native", "wasm-simd", "wasm"].flatMap((name) => {
    try {
      return [opusLibrary(name)];
    } catch (error) {
      assert.ok(error instanceof OpusLibraryError, String(error));
      return []; // Not on this machine (no libopus.so.0, or no wasm SIMD).
    }
  });
  assert.ok(builds.some((b) => b.name.startsWith("wasm")), "the WebAssembly build always loads");
  const frame = speech.subarray(16000, 16000 + SAMPLES_PER_FRAME);
  for (const encoding of builds) {
    const encoder = new OpusEncoder({ library: encoding });
    const packet = encoder.encode(frame);
    encoder.close();
    for (const decoding of builds) {
      const decoder = new OpusDecoder(16000, decoding);
      assert.equal(
        decoder.decode(packet).length,
        SAMPLES_PER_FRAME,
        `${encoding.name} -> ${decoding.name}`,
      );
      decoder.close();
    }
  }
  assert.throws(() => opusLibrary("mp3"), OpusLibraryError);
});
