import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { InteractionModel, ModelClosedError } from "./interaction_model.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { WorkerRuntime, type WorkerSessionEvent } from "./worker_runtime.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";

const built = buildReferenceModel("tiny", 5);
const model = await InteractionModel.load(built.bytes, { name: built.name });

function microTurn(sessionId: string, index: number, random: () => number): MicroTurn {
  return randomMicroTurn(sessionId, index, random, index % 7 === 3 ? "hi" : "");
}

const runtimeWith = (
  options: { capacity?: number; onEvent?: (id: string, e: WorkerSessionEvent) => void } = {},
) => new WorkerRuntime(model, { registry: new Registry(), capacity: 8, maxBatch: 8, ...options });

/** Streams `turns` micro-turns of session `id` (inputs seeded by `seed`) and returns the outputs. */
async function stream(runtime: WorkerRuntime, id: string, seed: number, turns: number) {
  const random = seededRandom(seed);
  const outputs: MicroTurnOutput[] = [];
  for (let i = 0; i < turns; i++) outputs.push(await runtime.run(microTurn(id, i, random)));
  return outputs;
}

/** Equal within 2 LSB: batched and unbatched float math may round differently. */
function sameAudio(a: Int16Array, b: Int16Array): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 2);
}

const SESSION = "00000000-0000-4000-8000-00000000000a";

Deno.test("sessions opening and closing at random while one streams: no state leaks, slots return", async () => {
  const quiet = runtimeWith();
  quiet.open(SESSION, 1_000_000);
  const alone = await stream(quiet, SESSION, 1, 12);

  const busy = runtimeWith();
  busy.open(SESSION, 1_000_000);
  const random = seededRandom(99);
  const churn = (async () => {
    for (let n = 0; n < 30; n++) {
      const id = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
      busy.open(id, 1_000_000);
      await stream(busy, id, 100 + n, 1 + Math.floor(random() * 3));
      busy.close(id);
    }
  })();
  const streamed = await stream(busy, SESSION, 1, 12);
  await churn;
  streamed.forEach((out, i) => {
    assert.ok(sameAudio(out.audio, alone[i].audio), `turn ${i}`);
    assert.equal(out.text, alone[i].text);
    assert.equal(out.control, alone[i].control);
  });
  busy.close(SESSION);
  assert.equal(busy.sessionCount, 0);
  assert.equal(busy.slotsInUse, 0, "every slot back in the pool");
  // A session that reuses a slot starts from an empty context, as on a fresh worker.
  busy.open(SESSION, 1_000_000);
  const again = await stream(busy, SESSION, 1, 3);
  again.forEach((out, i) => assert.ok(sameAudio(out.audio, alone[i].audio)));
});

/** Opens, streams one micro-turn in and closes `count` sessions. */
async function churn(runtime: WorkerRuntime, count: number, tag: string): Promise<void> {
  for (let n = 0; n < count; n++) {
    const id = `00000000-0000-4000-${tag}-${String(n).padStart(12, "0")}`;
    runtime.open(id, 0);
    await stream(runtime, id, n, 1);
    runtime.close(id);
  }
}

Deno.test("the cache is preallocated: heavy churn neither grows it nor leaks a slot", async () => {
  const runtime = runtimeWith();
  const before = runtime.cacheBytes;
  await churn(runtime, 200, "8001");
  assert.equal(runtime.cacheBytes, before);
  assert.equal(runtime.slotsInUse, 0);
});

const collectGarbage = (globalThis as { gc?: () => void }).gc;

Deno.test({
  name: "memory returns to baseline after 200 sessions came and went",
  // `deno task test` runs with --expose-gc; without it the heap cannot be measured reliably.
  ignore: !collectGarbage,
  async fn() {
    const runtime = runtimeWith();
    await churn(runtime, 20, "8002"); // warm up: JIT, onnxruntime arenas
    collectGarbage!();
    const { heapUsed, external } = Deno.memoryUsage();
    await churn(runtime, 200, "8003");
    collectGarbage!();
    const after = Deno.memoryUsage();
    // One session's cache alone is 160 KiB: keeping each would show as 31 MiB.
    const grown = after.heapUsed - heapUsed + after.external - external;
    assert.ok(grown < 4 * 2 ** 20, `memory grew ${(grown / 2 ** 20).toFixed(2)} MiB`);
  },
});

Deno.test("a round of every session's micro-turns is one step unless maxBatch splits it", async () => {
  // A step computes every slot up to the highest in use (with static steps, its whole bucket):
  // by default nothing splits a round, so a round costs one step.
  const steps = async (runtime: WorkerRuntime) => {
    const ids = Array.from({ length: 80 }, (_, i) => `00000000-0000-4000-8000-${i}`);
    for (const id of ids) await runtime.open(id, 0);
    const random = seededRandom(5);
    await runtime.run(microTurn(ids[0], 0, random)); // the step the first arrival starts alone
    const before = model.stepCounts.dynamic;
    await Promise.all(ids.map((id) => runtime.run(microTurn(id, 1, random))));
    await runtime.release();
    return model.stepCounts.dynamic - before;
  };
  const registry = () => new Registry();
  assert.equal(await steps(new WorkerRuntime(model, { registry: registry(), capacity: 80 })), 2);
  const split = new WorkerRuntime(model, { registry: registry(), capacity: 80, maxBatch: 32 });
  assert.equal(await steps(split), 4); // 1, 32, 32, 15
});

Deno.test("a full context window is reported once and the session goes on", async () => {
  const events: WorkerSessionEvent[] = [];
  const runtime = runtimeWith({ onEvent: (_id, event) => events.push(event) });
  runtime.open(SESSION, 1_000_000);
  // The tiny model's window is 160 positions: 16 micro-turns.
  await stream(runtime, SESSION, 3, 15);
  assert.equal(events.length, 0);
  const outputs = await stream(runtime, SESSION, 4, 10);
  assert.deepEqual(events, [{ kind: "context_full", window: 160, positions: 160 }]);
  assert.equal(outputs.length, 10);
  assert.ok(outputs.every((o) => o.audio.length === 3200));
});

Deno.test("idle sessions are reclaimed; active ones are not", async () => {
  const runtime = new WorkerRuntime(model, {
    registry: new Registry(),
    capacity: 4,
    idleTimeoutMs: 1000,
  });
  runtime.open(SESSION, 0);
  await stream(runtime, SESSION, 1, 1);
  const now = performance.now();
  assert.deepEqual(runtime.sweepIdle(now + 500), []);
  assert.deepEqual(runtime.sweepIdle(now + 1500), [SESSION]);
  assert.equal(runtime.slotsInUse, 0);
  await assert.rejects(stream(runtime, SESSION, 1, 1), /not open/);
});

Deno.test("a session closed while its step runs leaves its slot's next owner untouched", async () => {
  const runtime = runtimeWith({ capacity: 2 });
  const random = seededRandom(21);
  await runtime.open("a", 0);
  const inFlight = runtime.run(microTurn("a", 0, random));
  // The step is running off the event loop; the session goes and another takes its slot.
  runtime.close("a");
  await runtime.open("b", 0);
  await inFlight;
  assert.equal(runtime.contextPositions("b"), 0, "the new session's context is empty");
  const alone = runtimeWith({ capacity: 2 });
  await alone.open("b", 0);
  const expected = await stream(alone, "b", 22, 2);
  const actual = await stream(runtime, "b", 22, 2);
  actual.forEach((out, i) => assert.ok(sameAudio(out.audio, expected[i].audio), `turn ${i}`));
  await runtime.release();
  await alone.release();
});

Deno.test("a session moved to another worker with its recent micro-turns replayed goes on as if it had stayed", async () => {
  // Tiny's window holds 16 micro-turns: a replay fills at most 12, a quarter stays free.
  const random = seededRandom(21);
  const turns = Array.from({ length: 14 }, (_, i) => microTurn(SESSION, i, random));
  const stayed = runtimeWith();
  stayed.open(SESSION, 1_000_000);
  for (const turn of turns.slice(0, 8)) await stayed.run(turn);
  const next = await stayed.run(turns[8]);

  const moved = runtimeWith();
  moved.open(SESSION, 1_000_000);
  await moved.replay(SESSION, turns.slice(0, 8));
  assert.equal(moved.contextPositions(SESSION), 80, "8 micro-turns of 10 positions replayed");
  const after = await moved.run(turns[8]);
  assert.ok(sameAudio(after.audio, next.audio), "the next output is the one it would have been");
  assert.equal(after.control, next.control);

  // Without the replay (a text-only rebuild) the same micro-turn comes out otherwise.
  const forgot = runtimeWith();
  forgot.open(SESSION, 1_000_000);
  assert.ok(!sameAudio((await forgot.run(turns[8])).audio, next.audio));

  // More than the budget: only the newest are replayed, after the rebuild's text.
  const long = runtimeWith();
  long.open(SESSION, 1_000_000);
  await long.replay(SESSION, turns);
  assert.equal(long.contextPositions(SESSION), 120, "12 of 14 micro-turns");
  await long.rebuild(SESSION, "x".repeat(100)); // 4 micro-turns of text
  await long.replay(SESSION, turns);
  assert.equal(long.contextPositions(SESSION), 120, "4 of text, 8 replayed");
  await assert.rejects(long.replay("00000000-0000-4000-8000-0000000000ff", turns), /not open/);
});

Deno.test("a worker stopped while a step runs waits for it before freeing the cache and the model", async () => {
  // The step's native call runs off the event loop and writes into the cache: freeing either
  // under it crashed the process (seen when a worker stopped during a replay).
  const random = seededRandom(31);
  const turns = Array.from({ length: 8 }, (_, i) => microTurn(SESSION, i, random));
  for (let round = 0; round < 4; round++) {
    const own = await InteractionModel.load(built.bytes, { name: built.name });
    const runtime = new WorkerRuntime(own, { registry: new Registry(), capacity: 2 });
    await runtime.open(SESSION, 1_000_000);
    const stepping = runtime.replay(SESSION, turns);
    await new Promise((r) => setTimeout(r, 0)); // the step is under way
    await Promise.all([runtime.release(), own.close()]);
    await stepping;
    // Refused before the cache is looked at: a closed model has nothing to step with.
    await assert.rejects(own.step([], {} as KvCacheSlots), ModelClosedError);
  }
});
