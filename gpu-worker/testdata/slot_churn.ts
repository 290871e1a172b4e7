/**
 * Opens, steps and closes a session 1000 times in one cache slot, after 100 to warm up, and
 * prints the growth of this process's resident memory in bytes. Run in its own process by
 * interaction_model_test.ts, so no other test's allocations count.
 *
 * @module
 */
import { InteractionModel } from "../interaction_model.ts";
import { buildReferenceModel } from "../model/reference_model.ts";
import { flowNoise } from "../flow_noise.ts";

const built = buildReferenceModel("tiny", 42);
const model = await InteractionModel.load(built.bytes, { name: built.name });
const cache = model.createCache(4);
const turns = [{
  dmel: new Uint8Array(1600),
  text: new Uint8Array(0),
  elapsedSeconds: 0,
  noise: flowNoise(12, 0),
}];
const cycle = async () => {
  const slot = cache.acquire();
  await model.step([{ slot, turns }], cache);
  cache.release(slot);
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
for (let i = 0; i < 100; i++) await cycle();
gc();
const before = Deno.memoryUsage().rss;
for (let i = 0; i < 1000; i++) await cycle();
gc();
console.log(
  JSON.stringify({ grownBytes: Deno.memoryUsage().rss - before, slotsInUse: cache.used }),
);
cache.release();
await model.close();
