import assert from "node:assert/strict";
import {
  type EncodedOutput,
  HEAD_FRAMES,
  OutputEncodeError,
  OutputEncoderPool,
} from "./output_encoder_pool.ts";
import { OpusEncoder } from "../pipeline/opus_codec.ts";
import { belowSilenceFloor } from "../pipeline/silence_floor.ts";
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

/** A micro-turn's payloads, its first part's owed frames filled from its rest. */
async function whole({ head, rest }: EncodedOutput): Promise<Uint8Array[]> {
  const [first, later] = await Promise.all([head, rest]);
  let next = 0;
  return first.map((payload) => payload ?? later[next++]);
}

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
        Promise.all([0, 1, 2].map((k) => whole(pool.encode(session, turn(3 * s + k + 3), false))))
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
    const silent = await whole(pool.encode(session, turn(0), true));
    assert.deepEqual(silent, Array(FRAMES_PER_MICRO_TURN).fill(new Uint8Array(0)));
    // A tone for 100 ms, then 100 ms at -64 dBFS.
    const half = Int16Array.from(
      { length: SAMPLES_PER_MICRO_TURN },
      (_, i) => i < SAMPLES_PER_MICRO_TURN / 2 ? 4000 * Math.sin(i / 10) : 20,
    );
    const payloads = await whole(pool.encode(session, half, false));
    assert.deepEqual(payloads.map((payload) => payload.length > 0), [
      ...Array(5).fill(true),
      ...Array(5).fill(false),
    ]);
    // Silence is answered without a thread, but never ahead of the session's queued speech.
    const order: string[] = [];
    await Promise.all([
      pool.encode(session, half, false).rest.then(() => order.push("speech")),
      pool.encode(session, turn(0), true).head.then(() => order.push("silence")),
    ]);
    assert.deepEqual(order, ["speech", "silence"]);
  } finally {
    pool.close();
  }
});

Deno.test("a full encoder thread refuses a new session's micro-turn, never one behind a session's queued one; closing refuses what waits", async () => {
  const pool = new OutputEncoderPool(1, 1);
  const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
  const first = pool.encode(a, turn(3), false);
  // b would go to the edge as PCM: refused at once.
  const refused = pool.encode(b, turn(4), false);
  await assert.rejects(refused.head, OutputEncodeError);
  await assert.rejects(refused.rest, OutputEncodeError);
  // a's next micro-turn queues behind its first, so a's outputs never overtake each other.
  const second = pool.encode(a, turn(4), false);
  assert.equal((await whole(first)).length, FRAMES_PER_MICRO_TURN);
  assert.equal((await whole(second)).length, FRAMES_PER_MICRO_TURN);
  const waiting = pool.encode(a, turn(5), false);
  pool.close();
  await assert.rejects(waiting.head, OutputEncodeError);
  await assert.rejects(waiting.rest, OutputEncodeError);
  await assert.rejects(pool.encode(a, turn(6), false).head, /closed/);
  assert.equal(pool.liveThreads, 0);
});

Deno.test("a step's outputs come back first parts first: every session's first 40 ms before any session's rest", async () => {
  const pool = new OutputEncoderPool(1);
  try {
    const sessions = Array.from({ length: 6 }, () => crypto.randomUUID());
    const order: string[] = [];
    // Handed over together, as a worker's step hands its outputs (micro-turns of steady speech).
    const encoded = sessions.map((session, s) => {
      const output = pool.encode(session, turn(8 + s), false);
      output.head.then(() => order.push(`head ${s}`));
      output.rest.then(() => order.push(`rest ${s}`));
      return output;
    });
    const heads = await Promise.all(encoded.map((output) => output.head));
    await Promise.all(encoded.map((output) => output.rest));
    assert.deepEqual(order, [
      ...sessions.map((_, s) => `head ${s}`),
      ...sessions.map((_, s) => `rest ${s}`),
    ]);
    for (const head of heads) {
      // The first frames are there; the audible ones after them are owed, none is lost.
      assert.ok(head.slice(0, HEAD_FRAMES).every((payload) => payload !== null));
      assert.ok(head.slice(HEAD_FRAMES).some((payload) => payload === null), "speech owed");
    }
  } finally {
    pool.close();
  }
});
