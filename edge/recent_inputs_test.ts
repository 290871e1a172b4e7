import assert from "node:assert/strict";
import { RecentInputs } from "./recent_inputs.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";
import { PATCH_BYTES, PATCHES_PER_FRAME } from "../protocol/media_format.ts";

const SESSION = "00000000-0000-4000-8000-00000000000b";

function turn(index: number, withFrame = false): MicroTurn {
  return {
    sessionId: SESSION,
    index,
    wallClockMs: 1_000 + 200 * index,
    flags: index % 3,
    dmelFrames: 22,
    dmel: new Uint8Array(22 * 80).fill(index % 16),
    frameOrigins: new Uint8Array(10).fill(index % 4),
    lateMediaMs: [4_000],
    text: "typed",
    patchCount: withFrame ? PATCHES_PER_FRAME : 0,
    patches: new Uint8Array(withFrame ? PATCHES_PER_FRAME * PATCH_BYTES : 0).fill(index),
  };
}

Deno.test("recent inputs keep the newest micro-turns in order, their audio copied, text left to the context", () => {
  const recent = new RecentInputs(4);
  assert.deepEqual(recent.turns(), []);
  const sent = [0, 1, 2, 3, 4, 5].map((i) => turn(i, i === 2 || i === 4));
  for (const t of sent) recent.push(t);
  sent[5].dmel.fill(15); // the edge may reuse its buffers: the ring holds its own copy
  const kept = recent.turns();
  assert.deepEqual(kept.map((t) => t.index), [2, 3, 4, 5]);
  assert.deepEqual(kept.map((t) => t.dmel[0]), [2, 3, 4, 5]);
  assert.ok(kept.every((t) => t.text === "" && t.dmelFrames === 20 && t.dmel.length === 1600));
  assert.deepEqual(kept.map((t) => [t.wallClockMs, t.flags, t.frameOrigins[9]]), [
    [1_400, 2, 2],
    [1_600, 0, 3],
    [1_800, 1, 0],
    [2_000, 2, 1],
  ]);
  assert.ok(kept.every((t) => t.sessionId === SESSION && t.lateMediaMs.length === 0));
  // Only the newest camera frame travels (a frame is 57.6 KB; the model sees the latest).
  assert.deepEqual(kept.map((t) => t.patchCount), [0, 0, PATCHES_PER_FRAME, 0]);
  assert.equal(kept[2].patches[0], 4);
  assert.equal(recent.size, 4);
});
