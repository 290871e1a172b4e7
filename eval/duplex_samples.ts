/**
 * Full-Duplex-Bench's sample layout: a folder per sample holding `input.wav` and the task's
 * metadata, beside which a system writes `output.wav` (same length and time origin as the
 * input). The task is told by the metadata file, as the benchmark's scoring scripts find it:
 *
 * - `pause.json`: pause handling, `[{"timestamp": [pause start, pause end]}]`;
 * - `turn_taking.json`: smooth turn-taking, `[{"timestamp": [user turn end, ...]}]`;
 * - `interrupt.json`: user interruption,
 *   `[{"timestamp": [start, end], "context": ..., "interrupt": ...}]` (v1.5's `metadata.json`
 *   with `"timestamps"` is read too);
 * - none of these, in a folder whose path names `backchannel`: the backchannel task (the
 *   benchmark's ICC samples have `input.wav` only; ours add `backchannel.json`).
 *
 * @module
 */
import { join } from "node:path";
import { encodeWav, readWav } from "../lib/wav_file.ts";
import { resample } from "../lib/resample.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import type { DuplexTask, SampleTruth } from "./duplex_metrics.ts";

/** Raised for a folder that is not a sample in the benchmark's layout. */
export class SampleLayoutError extends Error {
  /**
   * @param dir the folder
   * @param reason what is wrong
   */
  constructor(dir: string, reason: string) {
    super(`${dir}: ${reason}`);
    this.name = "SampleLayoutError";
  }
}

/** One sample folder. */
export interface DuplexSample {
  /** The folder. */
  dir: string;
  /** Its name (the benchmark's sample id). */
  id: string;
  /** Ground truth from its metadata. */
  truth: SampleTruth;
}

/** The metadata file that names each task (backchannel samples may have none). */
export const TASK_FILES: Record<DuplexTask, string> = {
  pause_handling: "pause.json",
  smooth_turn_taking: "turn_taking.json",
  user_interruption: "interrupt.json",
  backchannel: "backchannel.json",
};

type Timestamped = { timestamp?: [number, number]; timestamps?: [number, number] };

async function readJson(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The `[start, end]` of the benchmark's list-of-one or v1.5 object form. */
function timestampOf(dir: string, data: unknown): [number, number] {
  const item = (Array.isArray(data) ? data[0] : data) as Timestamped | undefined;
  const stamp = item?.timestamp ?? item?.timestamps;
  if (!Array.isArray(stamp) || typeof stamp[0] !== "number") {
    throw new SampleLayoutError(dir, "metadata has no timestamp [start, end]");
  }
  return [stamp[0], typeof stamp[1] === "number" ? stamp[1] : stamp[0]];
}

/** Reads one sample folder's input length and ground truth. */
export async function readSample(dir: string): Promise<DuplexSample> {
  const input = await readInput(dir);
  const inputSeconds = input.length / SAMPLE_RATE_HZ;
  const id = dir.split("/").filter(Boolean).at(-1)!;
  const pause = await readJson(join(dir, TASK_FILES.pause_handling));
  if (pause) {
    const [start, end] = timestampOf(dir, pause);
    const speechEnd = (Array.isArray(pause) ? pause[0] : pause)?.speech_end;
    return {
      dir,
      id,
      truth: {
        task: "pause_handling",
        inputSeconds,
        pause: { start, end, speechEnd: typeof speechEnd === "number" ? speechEnd : undefined },
      },
    };
  }
  const turn = await readJson(join(dir, TASK_FILES.smooth_turn_taking));
  if (turn) {
    const [turnEnd] = timestampOf(dir, turn);
    return { dir, id, truth: { task: "smooth_turn_taking", inputSeconds, turnEnd } };
  }
  const interrupt = await readJson(join(dir, TASK_FILES.user_interruption)) ??
    await readJson(join(dir, "metadata.json"));
  if (interrupt) {
    const [start, end] = timestampOf(dir, interrupt);
    return {
      dir,
      id,
      truth: { task: "user_interruption", inputSeconds, interrupt: { start, end } },
    };
  }
  if (await readJson(join(dir, TASK_FILES.backchannel)) || /backchannel/i.test(dir)) {
    return { dir, id, truth: { task: "backchannel", inputSeconds } };
  }
  throw new SampleLayoutError(dir, "no pause.json, turn_taking.json or interrupt.json");
}

/** `input.wav` of a sample as 16 kHz mono (other rates resampled, channels averaged). */
export async function readInput(dir: string): Promise<Int16Array> {
  let wav;
  try {
    wav = readWav(await Deno.readFile(join(dir, "input.wav")));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new SampleLayoutError(dir, "no input.wav");
    throw error;
  }
  let samples = wav.samples;
  if (wav.channels > 1) {
    samples = new Int16Array(Math.floor(wav.samples.length / wav.channels));
    for (let i = 0; i < samples.length; i++) {
      let sum = 0;
      for (let c = 0; c < wav.channels; c++) sum += wav.samples[i * wav.channels + c];
      samples[i] = Math.round(sum / wav.channels);
    }
  }
  return resample(samples, wav.sampleRate, SAMPLE_RATE_HZ);
}

/** Writes a sample's `output.wav` (16 kHz mono). */
export async function writeOutput(dir: string, samples: Int16Array): Promise<void> {
  await Deno.writeFile(join(dir, "output.wav"), encodeWav(samples, SAMPLE_RATE_HZ));
}

/** Reads a sample's `output.wav`. */
export async function readOutput(dir: string): Promise<Int16Array> {
  const wav = readWav(await Deno.readFile(join(dir, "output.wav")));
  return resample(wav.samples, wav.sampleRate, SAMPLE_RATE_HZ);
}

/**
 * Every sample under `root`: `root` itself when it holds `input.wav`, else its sample folders,
 * else the sample folders of its task folders (the benchmark's `dataset/<task>/<id>/`). Sorted.
 */
export async function findSamples(root: string): Promise<DuplexSample[]> {
  const isSample = async (dir: string) => {
    try {
      return (await Deno.stat(join(dir, "input.wav"))).isFile;
    } catch {
      return false;
    }
  };
  const subfolders = async (dir: string) => {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && !entry.name.startsWith(".")) names.push(join(dir, entry.name));
    }
    return names.sort();
  };
  if (await isSample(root)) return [await readSample(root)];
  const samples: DuplexSample[] = [];
  for (const dir of await subfolders(root)) {
    if (await isSample(dir)) samples.push(await readSample(dir));
    else {
      for (const inner of await subfolders(dir)) {
        if (await isSample(inner)) samples.push(await readSample(inner));
      }
    }
  }
  return samples;
}
