import assert from "node:assert/strict";
import { KvCacheSlots, NoFreeSlotError } from "./kv_cache_slots.ts";

const geometry = { layers: 2, heads: 1, window: 20, headSize: 2 };

/** New keys for `positions` positions, valued `start`, `start + 1`, ... per position. */
function keys(start: number, positions: number): Float32Array {
  const values = new Float32Array(geometry.layers * geometry.heads * positions * geometry.headSize);
  for (let lh = 0; lh < geometry.layers * geometry.heads; lh++) {
    for (let p = 0; p < positions; p++) {
      values.fill(start + p + 100 * lh, (lh * positions + p) * 2, (lh * positions + p + 1) * 2);
    }
  }
  return values;
}

Deno.test("the ring keeps the newest window of positions, wrapping mid-append", () => {
  const slots = new KvCacheSlots(2, geometry);
  const slot = slots.acquire();
  assert.equal(slots.append(slot, keys(0, 15), keys(0, 15), 15), false);
  // 15 more: 5 fill the ring's end, 10 overwrite its start (the oldest positions).
  assert.equal(slots.append(slot, keys(15, 15), keys(15, 15), 15), true);
  const { keys: cached, mask } = slots.view(slot);
  const position = (layer: number, at: number) => cached[(layer * geometry.window + at) * 2];
  const ring = Array.from({ length: 20 }, (_, at) => position(0, at));
  assert.deepEqual(ring, [
    20,
    21,
    22,
    23,
    24,
    25,
    26,
    27,
    28,
    29,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
  ]);
  assert.deepEqual(
    Array.from({ length: 20 }, (_, at) => position(1, at)),
    ring.map((v) => v + 100),
  );
  assert.ok(mask.every((m) => m === 1));
  assert.equal(slots.position(slot), 30);
  assert.equal(slots.filled(slot), 20);
  slots.release(slot);
  assert.equal(
    slots.view(slots.acquire()).mask.some((m) => m === 1),
    false,
    "released slots are empty",
  );
  slots.acquire();
  assert.throws(() => slots.acquire(), NoFreeSlotError);
});
