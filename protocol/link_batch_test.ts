import assert from "node:assert/strict";
import {
  encodeLinkBatch,
  LinkFrameBatcher,
  linkFramesIn,
  MAX_LINK_BATCH_BYTES,
} from "./link_batch.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  MalformedLinkFrameError,
  type WorkerLinkFrame,
} from "./worker_link.ts";

const sessionId = "6f1c2a0e-8a53-4d7e-9a44-1f0a5b6c7d8e";
const frames: WorkerLinkFrame[] = [
  {
    type: "output",
    output: {
      sessionId,
      index: 7,
      control: "speak",
      stepMs: 12.5,
      audio: new Int16Array(0),
      opus: [new Uint8Array([1, 2, 3]), null, new Uint8Array(0)],
      text: "hello",
    },
  },
  { type: "audio_rest", sessionId, index: 7, payloads: [new Uint8Array([9, 8])] },
  { type: "event", sessionId, index: 0, body: { kind: "context_full" } },
];

/** Waits until what was queued with `setImmediate` before this call has run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

Deno.test("a batch carries its frames in order, and a lone frame is a message of its own", () => {
  const batch = encodeLinkBatch(frames.map(encodeLinkFrame));
  assert.deepEqual(linkFramesIn(batch).map(decodeLinkFrame), frames);
  const lone = encodeLinkFrame(frames[2]);
  assert.deepEqual(linkFramesIn(lone), [lone]);
});

Deno.test("a batch whose counts do not add up, or a batch inside one, is refused with a typed error", () => {
  const batch = encodeLinkBatch(frames.map(encodeLinkFrame));
  for (let cut = 22; cut < batch.length; cut += 7) {
    assert.throws(() => linkFramesIn(batch.subarray(0, cut)), MalformedLinkFrameError);
  }
  const extended = new Uint8Array(batch.length + 1);
  extended.set(batch);
  assert.throws(() => linkFramesIn(extended), /1 bytes after a batch's frames/);
  const otherVersion = batch.slice();
  otherVersion[0] = 2;
  assert.throws(() => linkFramesIn(otherVersion), /version 2/);
  // A batch inside a batch comes out as one frame, which no frame decoder takes.
  const nested = linkFramesIn(encodeLinkBatch([batch]));
  assert.throws(() => decodeLinkFrame(nested[0]), /unknown type 12/);
});

Deno.test("the batcher sends what was pushed in one turn of the event loop as one message", async () => {
  const sent: Uint8Array[] = [];
  const batcher = new LinkFrameBatcher((message) => sent.push(message));
  const encoded = frames.map(encodeLinkFrame);
  for (const frame of encoded) batcher.push(frame);
  assert.equal(sent.length, 0);
  await nextTurn();
  assert.equal(sent.length, 1);
  assert.deepEqual(linkFramesIn(sent[0]), encoded);

  // Alone in its turn, a frame goes as itself; the batcher stays quiet with nothing queued.
  batcher.push(encoded[1]);
  await nextTurn();
  await nextTurn();
  assert.equal(sent.length, 2);
  assert.equal(sent[1], encoded[1]);

  // A frame that would take a batch past its bound starts the next one, order kept.
  const big = new Uint8Array(MAX_LINK_BATCH_BYTES / 2);
  big.set(encoded[2]);
  batcher.push(big);
  batcher.push(big);
  batcher.push(encoded[0]);
  assert.equal(sent.length, 3);
  assert.equal(sent[2], big);
  await nextTurn();
  assert.equal(sent.length, 4);
  assert.deepEqual(linkFramesIn(sent[3]), [big, encoded[0]]);
});
