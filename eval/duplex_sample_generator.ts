/**
 * Synthetic samples in Full-Duplex-Bench's layout with exact ground truth: user speech from
 * espeak-ng in varied voices, rates and pitches, laid out on a timeline with known pauses,
 * turn ends and interruptions, written as `<out>/<task>/<task>_<n>/input.wav` plus the task's
 * metadata (eval/duplex_samples.ts).
 *
 * - pause handling: a sentence broken by a 0.8-2 s pause mid-utterance, then its end; the
 *   model should keep listening;
 * - smooth turn-taking: one to three sentences (0.2-0.4 s between), then 4 s for the answer;
 * - user interruption: a question, 2-2.6 s for the model to start answering, then the user
 *   cuts in (1-2 s of speech), then 3 s for the answer to that;
 * - backchannel: an 8-12 s story with 0.3-0.5 s breaths between sentences, where listeners
 *   say "mm-hmm".
 *
 *   deno task eval:duplex:generate --out=DIR [--per-task=8] [--seed=1]
 *
 * @module
 */
import { join } from "node:path";
import { encodeWav } from "../lib/wav_file.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import { type EspeakVoice, speak } from "./espeak_speech.ts";
import { DUPLEX_TASKS, type DuplexTask } from "./duplex_metrics.ts";
import { TASK_FILES } from "./duplex_samples.ts";
import { flag, numberFlag } from "../bench/bench_support.ts";

const VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+f2", "en-us+m3"];

const STATEMENTS = [
  "I went to the market this morning to buy some fresh bread.",
  "My sister is moving to a new apartment next month.",
  "The train was late again because of the snow.",
  "We planted tomatoes and beans in the garden last spring.",
  "Our team finished the project two days ahead of schedule.",
  "The museum downtown has a new exhibit about ancient ships.",
  "I have been learning to play the piano for about a year.",
  "The weather forecast says it will rain all weekend.",
  "My neighbor adopted a small dog from the shelter.",
  "We drove along the coast and stopped at every little town.",
];
const QUESTIONS = [
  "Can you tell me how to make a good cup of coffee?",
  "What should I pack for a week of hiking in the mountains?",
  "How do I keep my houseplants alive during the winter?",
  "Could you explain how airplanes stay in the air?",
  "What is a good way to start learning a new language?",
  "How long should I cook rice on the stove?",
];
const INTERRUPTIONS = [
  "Wait, sorry, what about decaf?",
  "Hold on, I only have two days.",
  "Sorry, can you say that more simply?",
  "Actually, never mind, tell me something else.",
];
/** A sentence split where a speaker would pause to think. */
const SPLIT_SENTENCES: [string, string][] = [
  ["I was thinking that maybe we could", "go to the lake on Saturday."],
  ["The thing I really want to know is", "whether the store opens early."],
  ["What I would like to order is", "a large salad with extra cheese."],
  ["My favorite part of the trip was", "the boat ride across the bay."],
];

/** One sample: its input and its metadata file's contents. */
interface GeneratedSample {
  input: Int16Array;
  metadata: unknown;
}

/** Builds a timeline: silence and speech appended in order, times known. */
class Timeline {
  readonly #parts: Int16Array[] = [];
  #length = 0;

  /** Seconds so far. */
  get seconds(): number {
    return this.#length / SAMPLE_RATE_HZ;
  }

  silence(seconds: number): this {
    return this.#push(new Int16Array(Math.round(seconds * SAMPLE_RATE_HZ)));
  }

  /** Appends speech; returns its [start, end] in seconds. */
  speech(samples: Int16Array): [number, number] {
    const start = this.seconds;
    this.#push(samples);
    return [round(start), round(this.seconds)];
  }

  samples(): Int16Array {
    const out = new Int16Array(this.#length);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  #push(samples: Int16Array): this {
    this.#parts.push(samples);
    this.#length += samples.length;
    return this;
  }
}

const round = (x: number) => Number(x.toFixed(3));

/** Generates one sample of `task` from `random`. */
async function generate(task: DuplexTask, random: () => number): Promise<GeneratedSample> {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const between = (low: number, high: number) => low + random() * (high - low);
  const voice: EspeakVoice = {
    voice: pick(VOICES),
    rate: Math.round(between(140, 190)),
    pitch: Math.round(between(35, 65)),
  };
  const say = (text: string) => speak(text, voice);
  const line = new Timeline().silence(between(0.5, 1));
  switch (task) {
    case "pause_handling": {
      const [first, second] = pick(SPLIT_SENTENCES);
      const [, pauseStart] = line.speech(await say(first));
      line.silence(between(0.8, 2));
      const [pauseEnd, speechEnd] = line.speech(await say(second));
      line.silence(1.5);
      return {
        input: line.samples(),
        metadata: [{ timestamp: [pauseStart, pauseEnd], speech_end: speechEnd, text: first }],
      };
    }
    case "smooth_turn_taking": {
      const count = 1 + Math.floor(random() * 3);
      let turnEnd = 0;
      for (let i = 0; i < count; i++) {
        if (i > 0) line.silence(between(0.2, 0.4));
        turnEnd = line.speech(await say(i === count - 1 ? pick(QUESTIONS) : pick(STATEMENTS)))[1];
      }
      line.silence(4);
      return { input: line.samples(), metadata: [{ timestamp: [turnEnd, round(line.seconds)] }] };
    }
    case "user_interruption": {
      const context = pick(QUESTIONS);
      line.speech(await say(context));
      line.silence(between(2, 2.6));
      const interrupt = pick(INTERRUPTIONS);
      const [start, end] = line.speech(await say(interrupt));
      line.silence(3);
      return {
        input: line.samples(),
        metadata: [{ timestamp: [start, end], context, interrupt }],
      };
    }
    case "backchannel": {
      const target = between(8, 12);
      const opportunities: [number, number][] = [];
      let last = 0;
      for (let i = 0; line.seconds < target || i === 0; i++) {
        if (i > 0) {
          const pause = between(0.3, 0.5);
          opportunities.push([round(line.seconds), round(line.seconds + pause)]);
          line.silence(pause);
        }
        last = line.speech(await say(STATEMENTS[(i + Math.floor(random() * 10)) % 10]))[1];
      }
      line.silence(1);
      return {
        input: line.samples(),
        metadata: [{ timestamp: [0, last], backchannel_opportunities: opportunities }],
      };
    }
  }
}

/** Writes `perTask` samples of every task under `out`, reproducibly from `seed`. */
export async function generateSamples(
  out: string,
  { perTask = 8, seed = 1, tasks = DUPLEX_TASKS }: {
    perTask?: number;
    seed?: number;
    tasks?: readonly DuplexTask[];
  } = {},
): Promise<string[]> {
  const dirs: string[] = [];
  for (const [t, task] of tasks.entries()) {
    for (let n = 0; n < perTask; n++) {
      const random = seededRandom(seed * 1_000_003 + t * 1000 + n);
      const sample = await generate(task, random);
      const dir = join(out, task, `${task}_${String(n + 1).padStart(3, "0")}`);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(join(dir, "input.wav"), encodeWav(sample.input, SAMPLE_RATE_HZ));
      await Deno.writeTextFile(
        join(dir, TASK_FILES[task]),
        JSON.stringify(sample.metadata, null, 2) + "\n",
      );
      dirs.push(dir);
    }
  }
  return dirs;
}

if (import.meta.main) {
  const out = flag("out");
  if (!out) {
    console.error("usage: deno task eval:duplex:generate --out=DIR [--per-task=8] [--seed=1]");
    Deno.exit(2);
  }
  const dirs = await generateSamples(out, {
    perTask: numberFlag("per-task", 8),
    seed: numberFlag("seed", 1),
  });
  console.log(`wrote ${dirs.length} samples under ${out}`);
}
