import assert from "node:assert/strict";
import { OutputEncodeError, OutputEncoderPool } from "./output_encoder_pool.ts";
import { OpusEncoder } from "../pipeline/opus_codec.ts";
import { belowSilenceFloor } from "../pipeline/output_silence.ts";
import { speechFixture } from "../tests/support/speech_fixture.ts";
import {
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";

/** The speech fixture: talk, with its pauses (it starts with 0.6 s of quiet). */
const speech = speechFixture();
const turn = (k: number) =>
  speech.subarray(k * SAMPLES_PER_MICRO_TURN, (k + 1) * SAMPLES_PER_MICRO_TURN);

Deno.test("the encoder pool encodes each session's output with its own encoder, as one encoder in this thread would, in order", async () => {
  const pool = new OutputEncoderPool(2);
  try {
    const sessions = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const session of sessions) pool.open(session);
    assert.equal(pool.liveThreads, 2, "three sessions spread over both threads");
    // Each session's micro-turns, interleaved with the others': an encoder's state carries
    // across micro-turns, so only a session's own encoder gives the same bytes.
    const asked = await Promise.all(
      sessions.map((session, s) =>
        Promise.all([0, 1, 2].map((k) => pool.encode(session, turn(3 * s + k + 3), false)))
      ),
    );
    for (const [s, session] of sessions.entries()) {
      const local = new OpusEncoder();
      const got = asked[s];
      assert.ok(got.flat().filter((payload) => payload.length > 0).length > 10, "speech is sent");
      for (const [k, payloads] of got.entries()) {
        const pcm = turn(3 * s + k + 3);
        const expected = Array.from(
          { length: FRAMES_PER_MICRO_TURN },
          (_, i) => pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME),
        ).map((frame) => belowSilenceFloor(frame) ? new Uint8Array(0) : local.encode(frame));
        assert.deepEqual(payloads, expected, `session ${s} micro-turn ${k}`);
      }
      local.close();
      pool.release(session);
    }
  } finally {
    pool.close();
  }
});

Deno.test("silence costs the pool nothing to send: a silent micro-turn and frames under the floor are empty payloads", async () => {
  const pool = new OutputEncoderPool(1);
  try {
    // A worker starts its threads before any session needs one.
    pool.start();
    assert.equal(pool.liveThreads, 1);
    const session = crypto.randomUUID();
    const silent = await pool.encode(session, turn(0), true);
    assert.deepEqual(silent, Array(FRAMES_PER_MICRO_TURN).fill(new Uint8Array(0)));
    // A tone for 100 ms, then 100 ms at -64 dBFS.
    const half = Int16Array.from(
      { length: SAMPLES_PER_MICRO_TURN },
      (_, i) => i < SAMPLES_PER_MICRO_TURN / 2 ? 4000 * Math.sin(i / 10) : 20,
    );
    const payloads = await pool.encode(session, half, false);
    assert.deepEqual(payloads.map((payload) => payload.length > 0), [
      ...Array(5).fill(true),
      ...Array(5).fill(false),
    ]);
    // Silence is answered without a thread, but never ahead of the session's queued speech.
    const order: string[] = [];
    await Promise.all([
      pool.encode(session, half, false).then(() => order.push("speech")),
      pool.encode(session, turn(0), true).then(() => order.push("silence")),
    ]);
    assert.deepEqual(order, ["speech", "silence"]);
  } finally {
    pool.close();
  }
});

Deno.test("a full encoder thread refuses a new session's micro-turn, never one behind a session's queued one; closing refuses what waits", async () => {
  const pool = new OutputEncoderPool(1, 1);
  const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
  const first = pool.encode(a, turn(0), false);
  // b would go to the edge as PCM: refused at once.
  await assert.rejects(pool.encode(b, turn(1), false), OutputEncodeError);
  // a's next micro-turn queues behind its first, so a's outputs never overtake each other.
  const second = pool.encode(a, turn(1), false);
  assert.equal((await first).length, FRAMES_PER_MICRO_TURN);
  assert.equal((await second).length, FRAMES_PER_MICRO_TURN);
  const waiting = pool.encode(a, turn(2), false);
  pool.close();
  await assert.rejects(waiting, OutputEncodeError);
  await assert.rejects(pool.encode(a, turn(3), false), /closed/);
  assert.equal(pool.liveThreads, 0);
});
