import assert from "node:assert/strict";
import { MicroTurnBatcher } from "./micro_turn_batcher.ts";

interface Work {
  sessionId: string;
  name: string;
  bulk: boolean;
}

Deno.test("batches: one item per session, in each session's order; bulk prefills and live micro-turns take turns, never share a step", async () => {
  const steps: string[][] = [];
  let release = () => {};
  const batcher = new MicroTurnBatcher<Work, string>(async (batch) => {
    steps.push(batch.map((w) => w.name));
    if (steps.length === 1) await new Promise<void>((r) => release = r);
    return batch.map((w) => w.name);
  }, { maxBatch: 8, bulk: (w) => w.bulk });
  const submit = (sessionId: string, name: string, bulk = false) =>
    batcher.submit({ sessionId, name, bulk });
  const done = [submit("a", "a0")]; // runs at once; the rest queue behind it
  done.push(
    submit("c", "c0-prefill", true),
    submit("b", "b0"),
    submit("c", "c1"), // c's live micro-turn waits for c's prefill
    submit("d", "d0-replay", true),
    submit("a", "a1"),
    submit("b", "b1"),
    submit("e", "e0-prefill", true),
  );
  release();
  assert.deepEqual(
    await Promise.all(done),
    done.map((_, i) =>
      [
        "a0",
        "c0-prefill",
        "b0",
        "c1",
        "d0-replay",
        "a1",
        "b1",
        "e0-prefill",
      ][i]
    ),
  );
  await batcher.idle();
  assert.deepEqual(steps, [
    ["a0"],
    ["c0-prefill", "d0-replay", "e0-prefill"], // bulk waited longest
    ["b0", "c1", "a1"], // then live, each session's oldest
    ["b1"],
  ]);
});
