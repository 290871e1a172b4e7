import assert from "node:assert/strict";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  MalformedLinkFrameError,
  MAX_REPLAY_MICRO_TURNS,
  type MicroTurn,
  type MicroTurnOutput,
  type WorkerLinkFrame,
} from "./worker_link.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { DMEL_BINS, PATCH_BYTES } from "./media_format.ts";

function randomTurn(random: () => number, sessionId: string, index: number): MicroTurn {
  const bytes = (length: number) => Uint8Array.from({ length }, () => Math.floor(random() * 16));
  const dmelFrames = Math.floor(random() * 25);
  const patchCount = Math.floor(random() * 3);
  return {
    sessionId,
    index,
    wallClockMs: Math.floor(random() * 2e12),
    flags: Math.floor(random() * 8),
    dmelFrames,
    dmel: bytes(dmelFrames * DMEL_BINS),
    frameOrigins: bytes(10).map((b) => b % 4),
    lateMediaMs: Array.from(
      { length: Math.floor(random() * 3) },
      () => Math.floor(random() * 2 ** 32),
    ),
    text: TEXTS[Math.floor(random() * TEXTS.length)],
    patchCount,
    patches: bytes(patchCount * PATCH_BYTES),
  };
}

const TEXTS = ["", "hi", "héllo → 世界", "a".repeat(300)];

function randomFrame(random: () => number): WorkerLinkFrame {
  const sessionId = crypto.randomUUID();
  const index = Math.floor(random() * 2 ** 32);
  const text = TEXTS[Math.floor(random() * TEXTS.length)];
  const kind = Math.floor(random() * 7);
  const payload = () =>
    Uint8Array.from(
      { length: random() < 0.3 ? 0 : Math.floor(random() * 1275) },
      () => Math.floor(random() * 256),
    );
  switch (kind) {
    case 0:
      return { type: "micro_turn", turn: randomTurn(random, sessionId, index) };
    case 4:
      return {
        type: "replay",
        sessionId,
        turns: Array.from(
          { length: 1 + Math.floor(random() * 4) },
          (_, i) => randomTurn(random, sessionId, index + i),
        ),
      };
    case 6:
      return {
        type: "audio_rest",
        sessionId,
        index,
        payloads: Array.from({ length: Math.floor(random() * 9) }, payload),
      };
    case 1:
    case 5: {
      // The audio as PCM, or (5) encoded on the worker: an Opus payload per frame, empty ones
      // for silence, null ones for frames an audio rest brings.
      const output: MicroTurnOutput = {
        sessionId,
        index,
        control: (["silent", "speak", "delegate"] as const)[Math.floor(random() * 3)],
        stepMs: Math.fround(random() * 100),
        audio: new Int16Array(0),
        text,
      };
      if (kind === 5) {
        output.opus = Array.from(
          { length: Math.floor(random() * 11) },
          () => random() < 0.2 ? null : payload(),
        );
      } else {
        output.audio = Int16Array.from(
          { length: Math.floor(random() * 3200) },
          () => Math.floor(random() * 65536) - 32768,
        );
      }
      return { type: "output", output };
    }
    case 2:
      return { type: "open", sessionId, index, body: { model: "tiny", text } };
    default:
      return { type: "error", sessionId, index, body: { code: "unknown_session" } };
  }
}

Deno.test("worker-link frames round-trip (fuzzed)", () => {
  const random = seededRandom(3);
  for (let i = 0; i < 500; i++) {
    const frame = randomFrame(random);
    assert.deepEqual(decodeLinkFrame(encodeLinkFrame(frame)), frame);
  }
});

Deno.test("worker-link decode rejects random, truncated and extended bytes with a typed error", () => {
  const random = seededRandom(5);
  for (let i = 0; i < 500; i++) {
    const encoded = encodeLinkFrame(randomFrame(random));
    const cut = encoded.subarray(0, Math.floor(random() * encoded.length));
    assert.throws(() => decodeLinkFrame(cut), MalformedLinkFrameError);
    const extended = new Uint8Array(encoded.length + 1);
    extended.set(encoded);
    assert.throws(() => decodeLinkFrame(extended), MalformedLinkFrameError);
    const noise = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
    try {
      decodeLinkFrame(noise);
    } catch (error) {
      assert.ok(error instanceof MalformedLinkFrameError, String(error));
    }
  }
});

Deno.test("worker-link decode refuses a replay of more micro-turns than a rebuild keeps", () => {
  const random = seededRandom(7);
  const sessionId = crypto.randomUUID();
  const turns = Array.from(
    { length: MAX_REPLAY_MICRO_TURNS + 1 },
    (_, i) => randomTurn(random, sessionId, i),
  );
  const encoded = encodeLinkFrame({ type: "replay", sessionId, turns });
  assert.throws(() => decodeLinkFrame(encoded), /replay of 65 micro-turns, at most 64/);
  const fits = encodeLinkFrame({ type: "replay", sessionId, turns: turns.slice(1) });
  assert.equal((decodeLinkFrame(fits) as { turns: MicroTurn[] }).turns.length, 64);
});
