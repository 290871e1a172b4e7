/**
 * What encoding output on the worker costs and adds: one model step's outputs for every session
 * (half speaking the speech fixture, half silent, as in bench:sockets) handed at once to the
 * worker link's encoder pool (gpu-worker/output_encoder_pool.ts), as a step's outputs are. Per
 * thread count: how long after the step the speaking sessions' payloads are back (median and
 * the last: they queue on the threads), the silent ones' (answered without a thread), and the
 * worker's main thread's time to hand a micro-turn over. The thread counts take turns round by
 * round; medians over rounds.
 *
 *   deno task bench:encode [--sessions=100] [--rounds=30] [--threads=1,2,4]
 *
 * Writes bench/results/worker-encode.json.
 *
 * @module
 */
import { flag, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { OutputEncoderPool } from "../gpu-worker/output_encoder_pool.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const sessions = numberFlag("sessions", 100);
const rounds = numberFlag("rounds", 30);
const cores = navigator.hardwareConcurrency;
const threadCounts = (flag("threads") ?? [1, 2, 4, 8].filter((n) => n <= cores).join(","))
  .split(",").map(Number);
/** Rounds that warm the threads' JIT and encoders, not counted. */
const WARMUP = 10;

const speech = loopSamples(speechFixture(), (rounds + WARMUP) * SAMPLES_PER_MICRO_TURN);
const ids = Array.from({ length: sessions }, () => crypto.randomUUID());
/**
 * Which sessions speak: a seeded half, not every other one (sessions are placed on threads in
 * turn, so every other one would put all the speech on half the threads).
 */
const random = seededRandom(1);
const speaks = ids.map((_, s) => s < sessions / 2);
for (let i = speaks.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [speaks[i], speaks[j]] = [speaks[j], speaks[i]];
}
const pools = threadCounts.map((threads) => {
  const pool = new OutputEncoderPool(threads, Infinity);
  pool.start();
  for (const id of ids) pool.open(id);
  return pool;
});
// Let every thread load its module before the first round.
await Promise.all(pools.map((pool) => Promise.all(ids.map((id) => pool.encode(id, speech, true)))));

interface Round {
  /** Speaking sessions' payloads back, median and last, ms. */
  speakingP50: number;
  last: number;
  /** Silent sessions' (answered without a thread), median, ms. */
  silentP50: number;
  mainUs: number;
}

async function step(pool: OutputEncoderPool, r: number): Promise<Round> {
  const audio = speech.subarray(r * SAMPLES_PER_MICRO_TURN, (r + 1) * SAMPLES_PER_MICRO_TURN);
  const speaking: number[] = [];
  const silent: number[] = [];
  const started = performance.now();
  const done = ids.map((id, s) =>
    pool.encode(id, audio, !speaks[s]).then(() =>
      (speaks[s] ? speaking : silent).push(performance.now() - started)
    )
  );
  const handedOver = performance.now() - started;
  await Promise.all(done);
  speaking.sort((a, b) => a - b);
  silent.sort((a, b) => a - b);
  return {
    speakingP50: quantile(speaking, 0.5),
    last: speaking.at(-1)!,
    silentP50: quantile(silent, 0.5),
    mainUs: (handedOver * 1000) / sessions,
  };
}

const results = threadCounts.map(() => [] as Round[]);
for (let r = 0; r < rounds + WARMUP; r++) {
  for (const [i, pool] of pools.entries()) {
    const round = await step(pool, r);
    if (r >= WARMUP) results[i].push(round);
  }
}
for (const pool of pools) pool.close();

const median = (values: number[]) =>
  Number(quantile([...values].sort((a, b) => a - b), 0.5).toFixed(2));
const result = {
  machine: `${Deno.build.os}-${Deno.build.arch}, ${cores} cores`,
  sessions,
  speaking: speaks.filter(Boolean).length,
  rounds,
  threads: threadCounts.map((threads, i) => ({
    threads,
    speaking_back_p50_ms: median(results[i].map((r) => r.speakingP50)),
    last_speaking_back_ms: median(results[i].map((r) => r.last)),
    silent_back_p50_ms: median(results[i].map((r) => r.silentP50)),
    main_thread_us_to_hand_over: median(results[i].map((r) => r.mainUs)),
  })),
};
console.log(JSON.stringify(result, null, 2));
await writeResult(flag("out") ?? "worker-encode.json", result);
