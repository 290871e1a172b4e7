import assert from "node:assert/strict";
import {
  belowSilenceFloor,
  rmsLevel,
  SILENCE_FLOOR_DBFS,
  SILENCE_HANGOVER_FRAMES,
  SilenceGate,
} from "./silence_floor.ts";

/** A 20 ms frame of a 440 Hz sine at `dbfs` RMS. */
function tone(dbfs: number): Int16Array {
  const amplitude = 32768 * Math.SQRT2 * 10 ** (dbfs / 20);
  return Int16Array.from({ length: 320 }, (_, i) => Math.round(amplitude * Math.sin(i / 5.78)));
}

Deno.test("the silence floor is -60 dBFS of RMS level", () => {
  assert.equal(SILENCE_FLOOR_DBFS, -60);
  assert.ok(Math.abs(20 * Math.log10(rmsLevel(tone(-20))) + 20) < 0.1);
  assert.ok(belowSilenceFloor(tone(-63)));
  assert.ok(!belowSilenceFloor(tone(-57)));
  assert.ok(belowSilenceFloor(new Int16Array(320)));
});

Deno.test("the microphone's silence gate lets tails through, then sends silence until sound", () => {
  const gate = new SilenceGate();
  const quiet = rmsLevel(tone(-70));
  const loud = rmsLevel(tone(-30));
  // Speech, then quiet: the first quiet frames still go as sound (a tail, a soft consonant).
  assert.equal(gate.silent(loud), false);
  for (let i = 0; i < SILENCE_HANGOVER_FRAMES; i++) assert.equal(gate.silent(quiet), false);
  for (let i = 0; i < 20; i++) assert.equal(gate.silent(quiet), true);
  // Sound goes at once, and a short pause inside speech is not cut.
  assert.equal(gate.silent(loud), false);
  for (let i = 0; i < SILENCE_HANGOVER_FRAMES; i++) assert.equal(gate.silent(quiet), false);
  assert.equal(gate.silent(loud), false);
  // What goes: the encoded frame itself, or an empty frame of its configuration.
  const speech = Uint8Array.of(9 << 3, 1, 2, 3);
  assert.equal(gate.pass(speech, loud), speech);
  for (let i = 0; i < SILENCE_HANGOVER_FRAMES; i++) assert.equal(gate.pass(speech, quiet), speech);
  assert.deepEqual(gate.pass(speech, quiet), Uint8Array.of(9 << 3));
});
