import assert from "node:assert/strict";
import { MinHeap } from "./min_heap.ts";
import { seededRandom } from "./seeded_random.ts";

Deno.test("values come out by key, smallest first, through pushes and pops interleaved", () => {
  const random = seededRandom(14);
  const heap = new MinHeap<string>();
  const held: number[] = [];
  const popped: number[] = [];
  for (let i = 0; i < 5000; i++) {
    if (held.length > 0 && random() < 0.45) {
      held.sort((a, b) => a - b);
      const smallest = held.shift()!;
      assert.equal(heap.peekKey(), smallest);
      const value = heap.pop()!;
      assert.equal(Number(value.split(":")[0]), smallest, "the value filed under the smallest key");
      popped.push(smallest);
    } else {
      const key = Math.floor(random() * 1000);
      heap.push(key, `${key}:${i}`);
      held.push(key);
    }
    assert.equal(heap.size, held.length);
  }
  assert.ok(popped.length > 1000);
});

Deno.test("an empty heap has key Infinity and gives back nothing; clear empties it", () => {
  const heap = new MinHeap<number>();
  assert.equal(heap.peekKey(), Infinity);
  assert.equal(heap.pop(), undefined);
  heap.push(3, 30);
  heap.push(1, 10);
  heap.push(2, 20);
  assert.equal(heap.pop(), 10);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.peekKey(), Infinity);
  heap.push(5, 50);
  assert.equal(heap.pop(), 50);
  assert.equal(heap.pop(), undefined);
});
