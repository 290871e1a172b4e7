/**
 * What encoding output on the worker costs and adds: one model step's outputs for every session
 * (half speaking the speech fixture, half silent, as in bench:sockets) handed at once to the
 * worker link's encoder pool (gpu-worker/output_encoder_pool.ts), as a step's outputs are. Per
 * thread count and first-part size (`--head-frames`: 2, as the worker sends, and 10, the whole
 * micro-turn in one part, as it sent before): how long after the step the speaking sessions'
 * first part is back (the edge can start playing) and their whole audio (median and the last:
 * they queue on the threads), the silent ones' (answered without a thread), and the worker's
 * main thread's time to hand a micro-turn over. The variants take turns round by round; medians
 * over rounds.
 *
 *   deno task bench:encode [--sessions=100] [--rounds=30] [--threads=1,2,4] [--head-frames=2,10]
 *
 * Writes bench/results/worker-encode.json.
 *
 * @module
 */
import { flag, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { HEAD_FRAMES, OutputEncoderPool } from "../gpu-worker/output_encoder_pool.ts";
import { FRAMES_PER_MICRO_TURN, SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const sessions = numberFlag("sessions", 100);
const rounds = numberFlag("rounds", 30);
const cores = navigator.hardwareConcurrency;
const threadCounts = (flag("threads") ?? [1, 2, 4, 8].filter((n) => n <= cores).join(","))
  .split(",").map(Number);
const headSizes = (flag("head-frames") ?? `${HEAD_FRAMES},${FRAMES_PER_MICRO_TURN}`).split(",")
  .map(Number);
const variants = threadCounts.flatMap((threads) =>
  headSizes.map((headFrames) => ({ threads, headFrames }))
);
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
const pools = variants.map(({ threads }) => {
  const pool = new OutputEncoderPool(threads, Infinity);
  pool.start();
  for (const id of ids) pool.open(id);
  return pool;
});
// Let every thread load its module before the first round.
await Promise.all(
  pools.map((pool) => Promise.all(ids.map((id) => pool.encode(id, speech, true).head))),
);

interface Round {
  /** Speaking sessions' first part back, median and last, ms. */
  firstP50: number;
  firstLast: number;
  /** Speaking sessions' whole audio back, median and last, ms. */
  wholeP50: number;
  wholeLast: number;
  /** Silent sessions' (answered without a thread), median, ms. */
  silentP50: number;
  mainUs: number;
}

async function step(pool: OutputEncoderPool, headFrames: number, r: number): Promise<Round> {
  const audio = speech.subarray(r * SAMPLES_PER_MICRO_TURN, (r + 1) * SAMPLES_PER_MICRO_TURN);
  const first: number[] = [];
  const whole: number[] = [];
  const silent: number[] = [];
  const started = performance.now();
  const done = ids.flatMap((id, s) => {
    const { head, rest } = pool.encode(id, audio, !speaks[s], headFrames);
    const since = () => performance.now() - started;
    return [
      head.then(() => (speaks[s] ? first : silent).push(since())),
      rest.then(() => speaks[s] && whole.push(since())),
    ];
  });
  const handedOver = performance.now() - started;
  await Promise.all(done);
  for (const times of [first, whole, silent]) times.sort((a, b) => a - b);
  return {
    firstP50: quantile(first, 0.5),
    firstLast: first.at(-1)!,
    wholeP50: quantile(whole, 0.5),
    wholeLast: whole.at(-1)!,
    silentP50: quantile(silent, 0.5),
    mainUs: (handedOver * 1000) / sessions,
  };
}

const results = variants.map(() => [] as Round[]);
for (let r = 0; r < rounds + WARMUP; r++) {
  for (const [i, pool] of pools.entries()) {
    const round = await step(pool, variants[i].headFrames, r);
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
  variants: variants.map(({ threads, headFrames }, i) => ({
    threads,
    head_frames: headFrames,
    first_part_back_p50_ms: median(results[i].map((r) => r.firstP50)),
    last_first_part_back_ms: median(results[i].map((r) => r.firstLast)),
    whole_back_p50_ms: median(results[i].map((r) => r.wholeP50)),
    last_whole_back_ms: median(results[i].map((r) => r.wholeLast)),
    silent_back_p50_ms: median(results[i].map((r) => r.silentP50)),
    main_thread_us_to_hand_over: median(results[i].map((r) => r.mainUs)),
  })),
};
console.log(JSON.stringify(result, null, 2));
await writeResult(flag("out") ?? "worker-encode.json", result);
