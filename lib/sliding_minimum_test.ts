import assert from "node:assert/strict";
import { SlidingMinimum } from "./sliding_minimum.ts";
import { seededRandom } from "./seeded_random.ts";

Deno.test("the sliding minimum is the smallest value pushed within the window, through growth and wrap-around", () => {
  const random = seededRandom(7);
  const minimum = new SlidingMinimum(500);
  const seen: [number, number][] = [];
  let at = 0;
  for (let i = 0; i < 20_000; i++) {
    // Bursts (many values at one time, the ring grows) and gaps (the window empties but for one).
    at += random() < 0.3 ? 0 : Math.floor(random() * (random() < 0.01 ? 2000 : 40));
    // Mostly rising values, so the deque holds long runs, with drops that clear it.
    const value = random() < 0.05 ? random() * 10 : 100 + at / 10 + random() * 50;
    seen.push([at, value]);
    const expected = Math.min(...seen.filter(([t]) => t >= at - 500).map(([, v]) => v));
    assert.equal(minimum.push(at, value), expected, `push ${i}`);
    if (seen.length > 2000) seen.splice(0, 1000);
  }
  minimum.clear();
  assert.equal(minimum.push(at, 1e9), 1e9);
});
