import assert from "node:assert/strict";
import { IndexSlots } from "./index_slots.ts";

Deno.test("index slots keep every key, in slots or beside them, like a Map", () => {
  const slots = new IndexSlots<string>(4);
  const model = new Map<number, string>();
  // A sliding window of keys, with some far ahead that share slots with nearer ones.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 5000; step++) {
    const key = Math.floor(step / 3) + Math.floor(random() * 12) - 2;
    const action = random();
    if (action < 0.45) {
      slots.set(key, `v${step}`);
      model.set(key, `v${step}`);
    } else if (action < 0.9) {
      assert.equal(slots.take(key), model.get(key));
      model.delete(key);
    } else if (action < 0.95) {
      slots.deleteBelow(key);
      for (const k of model.keys()) if (k < key) model.delete(k);
    }
    assert.equal(slots.get(key), model.get(key));
    assert.equal(slots.size, model.size);
  }
  const expected = [...model].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  assert.deepEqual(slots.takeAll(), expected);
  assert.equal(slots.size, 0);
  assert.equal(slots.get(1), undefined);
});

Deno.test("a key set again after its slot freed is not also kept beside the slots", () => {
  const slots = new IndexSlots<string>(4);
  slots.set(1, "a");
  slots.set(5, "old"); // slot 1 is taken: kept beside
  assert.equal(slots.take(1), "a");
  slots.set(5, "new"); // slot 1 is free now
  assert.equal(slots.take(5), "new");
  assert.equal(slots.get(5), undefined);
  assert.equal(slots.size, 0);
});
