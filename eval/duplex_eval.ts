/**
 * The interactivity benchmark, Full-Duplex-Bench-style, through the real system: every sample
 * folder's `input.wav` streams through a real client over WebSocket (eval/duplex_session.ts),
 * edge and worker (eval/duplex_system.ts) and back, over an emulated network; the heard output
 * is written as `output.wav` in the benchmark's layout (so its own ASR-based scripts can score
 * it), then scored here offline by voice activity (eval/duplex_metrics.ts). Writes
 * bench/results/duplex.json and duplex.png.
 *
 *   deno task eval:duplex --samples=DIR [--network=good-wifi,4g|all] [--backend=policy|all]
 *     [--concurrency=4] [--seed=1] [--outputs=DIR] [--edge-url=URL] [--score-only]
 *
 * Outputs go beside the inputs when one network and one backend run (the benchmark's layout),
 * else to `--outputs` (default `<samples>-outputs`) as `<backend>/<network>/<sample path>/`
 * with the input and metadata copied beside. `--edge-url` runs against a system already up
 * (the backend's name then only labels the rows); `--score-only` scores outputs already there.
 * Runs in real time: the edge's micro-turn clock and jitter buffer are wall-clock.
 *
 * @module
 */
import { join, relative } from "node:path";
import { flag, numberFlag, writeResult } from "../bench/bench_support.ts";
import { NETWORK_PROFILES, type NetworkProfile } from "../tests/support/arrival_traces.ts";
import { DUPLEX_BACKENDS, type DuplexBackend, startDuplexSystem } from "./duplex_system.ts";
import {
  type DuplexSample,
  findSamples,
  readInput,
  readOutput,
  TASK_FILES,
  writeOutput,
} from "./duplex_samples.ts";
import { streamSample } from "./duplex_session.ts";
import { SileroVad } from "./silero_vad.ts";
import {
  DUPLEX_TASKS,
  type SampleScore,
  scoreSample,
  summarize,
  type TaskSummary,
} from "./duplex_metrics.ts";
import { REPLY_AFTER_SILENCE_MS, VOICED_FRAMES_TO_STOP } from "./turn_taking_policy.ts";
import { DMEL_HOP_MS, SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import { readWav } from "../lib/wav_file.ts";
import { writeDuplexPlot } from "./duplex_plot.ts";

/** The network profiles by flag name, from bench:jitter. */
export const DUPLEX_NETWORKS: Record<string, NetworkProfile> = {
  "good-wifi": NETWORK_PROFILES[0],
  "4g": NETWORK_PROFILES[1],
  "3g": NETWORK_PROFILES[2],
  "handover": NETWORK_PROFILES[3],
};

/** Seconds to the millisecond, as the results carry them. */
const round = (x: number) => Number(x.toFixed(3));

/** What serving may add to the scripted policy's p50 latencies, s, per network. */
const SERVING_TARGET_S: Record<string, number> = { "good-wifi": 0.25, "4g": 0.4 };

/** One row of bench/results/duplex.json. */
export interface DuplexRow extends TaskSummary {
  /** The task. */
  task: string;
  /** The network profile. */
  network: string;
  /** The backend. */
  backend: string;
}

/** Streams `samples` through the edge at `edgeUrl`, `concurrency` at a time. */
export async function runSamples(
  edgeUrl: string,
  samples: DuplexSample[],
  profile: NetworkProfile,
  { concurrency = 4, seed = 1, outputDir = (s: DuplexSample) => s.dir } = {},
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < samples.length) {
      const index = next++;
      const sample = samples[index];
      const run = await streamSample(edgeUrl, await readInput(sample.dir), profile, seed + index);
      await writeOutput(outputDir(sample), run.output);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, lane));
}

/** Scores the outputs of `samples` found by `outputDir`. */
export async function scoreSamples(
  vad: SileroVad,
  samples: DuplexSample[],
  outputDir: (s: DuplexSample) => string = (s) => s.dir,
): Promise<Map<string, SampleScore[]>> {
  const byTask = new Map<string, SampleScore[]>();
  for (const sample of samples) {
    const segments = await vad.segments(await readOutput(outputDir(sample)));
    const scores = byTask.get(sample.truth.task) ?? [];
    scores.push(scoreSample(sample.truth, segments));
    byTask.set(sample.truth.task, scores);
  }
  return byTask;
}

/**
 * Where the VAD puts the start and end of the policy's reply against where they are: 1 s of
 * silence, the reply cut in the middle of its longest stretch of speech, then silence.
 * Subtracted when telling the serving's share.
 */
async function vadBias(vad: SileroVad): Promise<{ onset_s: number; offset_s: number }> {
  const reply = readWav(
    await Deno.readFile(new URL("./fixtures/policy_reply.wav", import.meta.url)),
  ).samples;
  const longest = (await vad.segments(reply))
    .reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const cut = Math.round(((longest.start + longest.end) / 2) * SAMPLE_RATE_HZ);
  const signal = new Int16Array(SAMPLE_RATE_HZ + cut + SAMPLE_RATE_HZ);
  signal.set(reply.subarray(0, cut), SAMPLE_RATE_HZ);
  const segments = await vad.segments(signal);
  return {
    onset_s: round(segments[0].start - 1),
    offset_s: round(segments.at(-1)!.end - (1 + cut / SAMPLE_RATE_HZ)),
  };
}

/** Copies a sample's input and metadata into `dir` (its outputs then score where they are). */
async function mirrorSample(sample: DuplexSample, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const file of ["input.wav", ...Object.values(TASK_FILES), "metadata.json"]) {
    await Deno.copyFile(join(sample.dir, file), join(dir, file)).catch(() => {});
  }
}

/** The flag's comma-separated choices, `all` for every one of `known`. */
function choices<T extends string>(name: string, known: readonly T[], fallback: T): T[] {
  const given = flag(name) ?? fallback;
  const picked = given === "all" ? [...known] : given.split(",") as T[];
  for (const choice of picked) {
    if (!known.includes(choice)) {
      console.error(`--${name}: unknown ${choice}; one of ${known.join(", ")} or all`);
      Deno.exit(2);
    }
  }
  return picked;
}

async function main(): Promise<void> {
  const root = flag("samples");
  if (!root) {
    console.error(
      "usage: deno task eval:duplex --samples=DIR [--network=good-wifi|all] " +
        "[--backend=policy|all] [--concurrency=4] [--outputs=DIR] [--edge-url=URL] [--score-only]",
    );
    Deno.exit(2);
  }
  const networks = choices("network", Object.keys(DUPLEX_NETWORKS), "good-wifi");
  const backends = choices<DuplexBackend>("backend", DUPLEX_BACKENDS, "policy");
  const concurrency = numberFlag("concurrency", 4);
  const seed = numberFlag("seed", 1);
  const scoreOnly = Deno.args.includes("--score-only");
  const samples = await findSamples(root);
  if (samples.length === 0) throw new Error(`no samples (folders with input.wav) under ${root}`);
  const inPlace = networks.length === 1 && backends.length === 1 && !flag("outputs");
  const outputs = flag("outputs") ?? `${root.replace(/\/$/, "")}-outputs`;
  const outputDirOf = (backend: string, network: string) => (sample: DuplexSample) =>
    inPlace ? sample.dir : join(outputs, backend, network, relative(root, sample.dir));
  console.log(`${samples.length} samples; networks ${networks}; backends ${backends}`);

  const vad = SileroVad.load();
  const rows: DuplexRow[] = [];
  try {
    for (const backend of backends) {
      const edgeUrl = flag("edge-url");
      const system = scoreOnly || edgeUrl ? undefined : await startDuplexSystem(backend, {
        databaseUrl: Deno.env.get("BENCH_DATABASE_URL"),
      });
      try {
        for (const network of networks) {
          const outputDir = outputDirOf(backend, network);
          if (!scoreOnly) {
            if (!inPlace) { for (const s of samples) await mirrorSample(s, outputDir(s)); }
            const started = performance.now();
            await runSamples(edgeUrl ?? system!.edgeUrl, samples, DUPLEX_NETWORKS[network], {
              concurrency,
              seed,
              outputDir,
            });
            console.log(
              `${backend} over ${network}: ${samples.length} samples in ` +
                `${((performance.now() - started) / 1000).toFixed(0)} s`,
            );
          }
          const scores = await scoreSamples(vad, samples, outputDir);
          for (const task of DUPLEX_TASKS) {
            const taskScores = scores.get(task);
            if (taskScores) rows.push({ task, network, backend, ...summarize(taskScores) });
          }
        }
      } finally {
        await system?.close();
      }
    }
    const bias = await vadBias(vad);
    console.table(rows);
    const serving = servingShare(rows, bias);
    if (serving.length) console.table(serving);
    const trained = trainedModelTargets(rows);
    if (trained.length) console.table(trained);
    await writeResult(flag("out") ?? "duplex.json", {
      machine: `${Deno.build.os}-${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
      samples_dir: root,
      concurrency,
      scoring: "Silero VAD segments on output.wav; eval/duplex_metrics.ts has the definitions",
      vad_bias: bias,
      rows,
      serving_added: serving,
      ...(trained.length ? { trained_model_targets: trained } : {}),
    });
    await writeDuplexPlot(rows, (flag("out") ?? "duplex.json").replace(/\.json$/, ".png"));
  } finally {
    vad.close();
  }
}

/**
 * What serving adds to the scripted policy's p50 latencies: response latency minus the policy's
 * 600 ms silence threshold, stop latency minus its 20 ms of voice to stop; each minus the VAD's
 * own bias on the policy's audio. Checked against the targets where it names one.
 */
function servingShare(
  rows: DuplexRow[],
  bias: { onset_s: number; offset_s: number },
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    if (row.backend !== "policy") continue;
    const target = SERVING_TARGET_S[row.network];
    const share = (metric: string, value: number | null, own: number, vadBias: number) => {
      if (value === null) return;
      const added = round(value - own - vadBias);
      out.push({
        task: row.task,
        network: row.network,
        metric,
        measured_p50_s: value,
        policy_own_s: own,
        serving_added_p50_s: added,
        target_s: target ?? null,
        meets_target: target === undefined ? null : added <= target,
      });
    };
    share("response_latency", row.latency_p50_s, REPLY_AFTER_SILENCE_MS / 1000, bias.onset_s);
    share(
      "stop_latency",
      row.stop_latency_p50_s,
      (VOICED_FRAMES_TO_STOP * DMEL_HOP_MS) / 1000,
      bias.offset_s,
    );
  }
  return out;
}

/** The trained model's targets on good wifi (issue 17), each row's measured value against it. */
const TRAINED_MODEL_TARGETS = [
  { task: "pause_handling", metric: "tor", at_most: 0.3 },
  { task: "smooth_turn_taking", metric: "tor", at_least: 0.8 },
  { task: "smooth_turn_taking", metric: "latency_p50_s", at_most: 0.6 },
  { task: "user_interruption", metric: "stop_latency_p50_s", at_most: 0.4 },
] as const;

/** The trained backend's good-wifi rows checked against {@linkcode TRAINED_MODEL_TARGETS}. */
function trainedModelTargets(rows: DuplexRow[]): Record<string, unknown>[] {
  return TRAINED_MODEL_TARGETS.flatMap((target) => {
    const row = rows.find((r) =>
      r.backend === "trained" && r.network === "good-wifi" && r.task === target.task
    );
    if (!row) return [];
    const measured = row[target.metric];
    const meets = measured !== null &&
      ("at_most" in target ? measured <= target.at_most : measured >= target.at_least);
    return [{ ...target, measured, meets_target: meets }];
  });
}

if (import.meta.main) await main();
