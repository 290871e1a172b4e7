import assert from "node:assert/strict";
import { Registry } from "prom-client";
import {
  InteractionModel,
  type StaticStepMode,
  type TurnInput,
  type TurnOutput,
} from "./interaction_model.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { compactSlots, type SlotHolder } from "./slot_compaction.ts";
import { SlotMover } from "./slot_mover.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import { flowNoise } from "./flow_noise.ts";
import { WorkerRuntime } from "./worker_runtime.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import type { MicroTurnOutput } from "../protocol/worker_link.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";

const built = buildReferenceModel("tiny", 42);
const operators = buildReferenceModel("tiny", 42, { attention: "operators" });

/** Tolerance for float32 results computed in another order (documented in the model contract). */
const TOLERANCE = 1e-4;

function turnInput(random: () => number, index: number): TurnInput {
  return {
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    text: index % 3 === 0 ? new TextEncoder().encode("hi") : new Uint8Array(0),
    elapsedSeconds: index * 0.2,
    noise: flowNoise(index, 3),
  };
}

/** Steps `slots` of `cache` for `steps` micro-turns (slot i gets the inputs of session i). */
async function streamSlots(
  model: InteractionModel,
  cache: KvCacheSlots,
  slots: number[],
  randoms: (() => number)[],
  steps: number,
  first: number,
): Promise<TurnOutput[][]> {
  const outputs: TurnOutput[][] = slots.map(() => []);
  for (let step = first; step < first + steps; step++) {
    const results = await model.step(
      slots.map((slot, i) => ({ slot, turns: [turnInput(randoms[i], step)] })),
      cache,
    );
    results.forEach((result, i) => outputs[i].push(result.turns[0]));
  }
  return outputs;
}

function assertSameOutputs(actual: TurnOutput[], expected: TurnOutput[], what: string) {
  actual.forEach((out, i) => {
    const difference = Math.max(...out.audio.map((v, j) => Math.abs(v - expected[i].audio[j])));
    assert.ok(difference < TOLERANCE, `${what}, micro-turn ${i}: audio differs by ${difference}`);
    assert.equal(out.control, expected[i].control, `${what}, micro-turn ${i}: control`);
  });
}

// Keys stored by position (the fused attention) and by feature (plain operators, as on a GPU).
const moveCases: [string, Uint8Array, StaticStepMode][] = [
  ["keys by position, static steps off", built.bytes, "off"],
  ["keys by position, static steps fixed", built.bytes, "fixed"],
  ["keys by feature, static steps fixed", operators.bytes, "fixed"],
];

for (const [label, bytes, staticSteps] of moveCases) {
  Deno.test(`sessions moved to lower slots go on as if they had stayed (${label})`, async () => {
    const model = await InteractionModel.load(bytes, { name: "tiny", staticSteps });
    const stayed = model.createCache(8, { staticBuckets: [2, 8] });
    const moved = model.createCache(8, { staticBuckets: [2, 8] });
    try {
      const seeds = [1, 2, 3, 4, 5];
      const run = async (cache: KvCacheSlots, move: boolean) => {
        const randoms = seeds.map((seed) => seededRandom(seed));
        const slots = seeds.map(() => cache.acquire());
        await streamSlots(model, cache, slots, randoms, 3, 0);
        // Three sessions leave; the two left sit in slots 3 and 4 of a step of 8.
        for (const slot of [0, 1, 2]) cache.release(slot);
        let kept = [3, 4];
        if (move) {
          const moves = kept.map((from) => ({ from, to: cache.acquire() }));
          await model.moveSlots(cache, moves);
          for (const { from, to } of moves) cache.transfer(from, to);
          kept = moves.map(({ to }) => to);
        }
        const after = await streamSlots(model, cache, kept, randoms.slice(3), 4, 3);
        return { after, kept, positions: kept.map((slot) => cache.position(slot)) };
      };
      const expected = await run(stayed, false);
      const actual = await run(moved, true);
      assert.deepEqual(actual.kept, [0, 1]);
      assert.deepEqual(actual.positions, expected.positions);
      assert.equal(moved.used, 2);
      assert.equal(moved.span, 2, "slots 3 and 4 went back to the pool");
      assert.equal(model.stepSlots(moved, moved.span), 2);
      assert.equal(model.stepSlots(stayed, stayed.span), staticSteps === "off" ? 5 : 8);
      actual.after.forEach((outputs, i) => assertSameOutputs(outputs, expected.after[i], `${i}`));
      // The copy is what carries the context: an empty slot answers otherwise.
      const fresh = model.createCache(2);
      const [blank] = await streamSlots(model, fresh, [fresh.acquire()], [seededRandom(4)], 4, 3);
      fresh.release();
      assert.ok(blank.some((out, i) => out.audio[0] !== expected.after[0][i].audio[0]));
    } finally {
      stayed.release();
      moved.release();
      await model.close();
    }
  });
}

Deno.test("the move model (a device's path) writes what the host's copy does", async () => {
  for (const bytes of [built.bytes, operators.bytes]) {
    const model = await InteractionModel.load(bytes, { name: "tiny" });
    const caches = [model.createCache(6), model.createCache(6)];
    const movers = [false, true].map((forceModel, i) =>
      new SlotMover(caches[i], { executionProvider: "cpu", forceModel })
    );
    try {
      for (const cache of caches) {
        const slots = Array.from({ length: 5 }, () => cache.acquire());
        const randoms = slots.map((slot) => seededRandom(slot));
        await streamSlots(model, cache, slots, randoms, 3, 0);
      }
      const contents = async (i: number) => {
        await movers[i].move([{ from: 3, to: 0 }, { from: 4, to: 1 }]);
        const { keys, values } = caches[i].views(6);
        return [...keys, ...values].map((tensor) => new Uint8Array(tensor.host!.buffer));
      };
      const [copied, modelled] = [await contents(0), await contents(1)];
      copied.forEach((tensor, t) => assert.deepEqual(tensor, modelled[t], `tensor ${t}`));
      // And the move did move: slot 0 now holds what slot 3 holds.
      const slotBytes = copied[0].length / 6;
      assert.deepEqual(
        copied[0].subarray(0, slotBytes),
        copied[0].subarray(3 * slotBytes, 4 * slotBytes),
      );
      assert.notDeepEqual(
        copied[0].subarray(0, slotBytes),
        copied[0].subarray(2 * slotBytes, 3 * slotBytes),
      );
    } finally {
      for (const mover of movers) mover.release();
      for (const cache of caches) cache.release();
      await model.close();
    }
  }
});

Deno.test("a session closed while its rings are moved keeps no slot; at most maxMoves move a call", async () => {
  const model = await InteractionModel.load(built.bytes, { name: "tiny", staticSteps: "off" });
  const cache = model.createCache(4);
  try {
    const holders = new Map<string, SlotHolder>(
      ["a", "b", "c"].map((id) => [id, { slot: cache.acquire() }]),
    );
    for (const id of ["a", "b"]) {
      cache.release(holders.get(id)!.slot);
      holders.delete(id);
    }
    const compacting = compactSlots(model, cache, holders);
    // "c" closes while its move is under way.
    cache.release(holders.get("c")!.slot);
    holders.delete("c");
    assert.equal(await compactSlots(model, cache, holders), 0, "nothing left to move");
    assert.equal(await compacting, 0);
    assert.equal(cache.used, 0);
    assert.equal(cache.span, 0);
    // Nothing to gain, nothing moved.
    holders.set("d", { slot: cache.acquire() });
    assert.equal(await compactSlots(model, cache, holders), 0);
    assert.equal(holders.get("d")!.slot, 0);
    // At most `maxMoves` a call, the highest first; the rest the next call.
    for (const id of ["e", "f", "g"]) holders.set(id, { slot: cache.acquire() });
    cache.release(holders.get("d")!.slot);
    cache.release(holders.get("e")!.slot);
    holders.delete("d");
    holders.delete("e");
    assert.equal(await compactSlots(model, cache, holders, 1), 1);
    assert.equal(holders.get("g")!.slot, 0);
    assert.equal(await compactSlots(model, cache, holders, 1), 1);
    assert.deepEqual([holders.get("f")!.slot, holders.get("g")!.slot], [1, 0]);
  } finally {
    cache.release();
    await model.close();
  }
});

async function metric(registry: Registry, name: string): Promise<number> {
  const value = (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  return value ?? 0;
}

for (const staticSteps of ["off", "fixed"] as StaticStepMode[]) {
  Deno.test(`a worker keeps its sessions in its lowest slots as others leave (static steps ${staticSteps})`, async () => {
    const model = await InteractionModel.load(built.bytes, { name: "tiny", staticSteps });
    const registry = new Registry();
    // Capacity 16: static buckets of 8 and 16 slots.
    const busy = new WorkerRuntime(model, { registry, capacity: 16, maxBatch: 16 });
    const quiet = new WorkerRuntime(model, { registry: new Registry(), capacity: 16 });
    const ids = Array.from({ length: 10 }, (_, i) => `00000000-0000-4000-8000-${i}`);
    const last = ids[9];
    try {
      await Promise.all([busy.ready, quiet.ready]);
      for (const id of ids) await busy.open(id, 1_000_000);
      await quiet.open(last, 1_000_000);
      const randoms = ids.map((_, i) => seededRandom(i));
      const quietRandom = seededRandom(9);
      const outputs: MicroTurnOutput[] = [];
      const expected: MicroTurnOutput[] = [];
      for (let index = 0; index < 3; index++) {
        const turns = ids.map((id, i) => busy.run(randomMicroTurn(id, index, randoms[i])));
        outputs.push((await Promise.all(turns))[9]);
        expected.push(await quiet.run(randomMicroTurn(last, index, quietRandom)));
      }
      for (const id of ids.slice(0, 9)) busy.close(id);
      assert.equal(await metric(registry, "worker_step_slots"), staticSteps === "off" ? 10 : 16);
      for (let index = 3; index < 6; index++) {
        outputs.push(await busy.run(randomMicroTurn(last, index, randoms[9])));
        expected.push(await quiet.run(randomMicroTurn(last, index, quietRandom)));
      }
      assert.equal(await metric(registry, "worker_slot_moves_total"), 1);
      assert.equal(await metric(registry, "worker_step_slots"), staticSteps === "off" ? 1 : 8);
      assert.equal(busy.slotsInUse, 1);
      assert.equal(busy.contextPositions(last), 60);
      outputs.forEach((out, i) => {
        const lsb = Math.max(...out.audio.map((v, j) => Math.abs(v - expected[i].audio[j])));
        assert.ok(lsb <= 2, `micro-turn ${i}: audio differs by ${lsb} LSB`);
      });
    } finally {
      await busy.release();
      await quiet.release();
      await model.close();
    }
  });
}
