import assert from "node:assert/strict";
import { NoFreeSlotError } from "./kv_cache_slots.ts";
import { InteractionModel } from "./interaction_model.ts";
import { buildReferenceModel } from "./model/reference_model.ts";

const built = buildReferenceModel("tiny", 1);
const model = await InteractionModel.load(built.bytes, { name: built.name });

Deno.test("slots: the lowest free slot first, ring heads wrap, filled stops at the ring and the window is reported full", () => {
  const slots = model.createCache(3);
  const { cacheLength, window } = model.geometry; // 240, 160
  assert.deepEqual([slots.acquire(), slots.acquire(), slots.acquire()], [0, 1, 2]);
  assert.throws(() => slots.acquire(), NoFreeSlotError);
  slots.release(1);
  assert.equal(slots.span, 3);
  slots.release(2);
  assert.equal(slots.span, 1, "the binding spans up to the highest slot in use");
  assert.equal(slots.acquire(), 1, "the lowest free slot is taken first");
  let full = false;
  for (let turn = 0; turn < 15; turn++) full = slots.advance(0, 10);
  assert.equal(full, false);
  assert.equal(slots.advance(0, 10), true, "160 positions fill the window");
  for (let turn = 0; turn < 10; turn++) slots.advance(0, 10);
  assert.equal(slots.position(0), 260);
  assert.equal(slots.head(0), 260 % cacheLength);
  assert.equal(slots.ringFilled(0), cacheLength);
  assert.equal(slots.filled(0), window);
  slots.release(0);
  assert.equal(slots.acquire(), 0);
  assert.deepEqual(
    [slots.head(0), slots.filled(0), slots.position(0)],
    [0, 0, 0],
    "reused slots are empty",
  );
  slots.release();
});

Deno.test("the cache's size is its geometry's", () => {
  const slots = model.createCache(5);
  const { layers, heads, headSize, cacheLength } = model.geometry;
  assert.equal(slots.bytes, 5 * 2 * layers * cacheLength * heads * headSize * 4);
  slots.release();
});
