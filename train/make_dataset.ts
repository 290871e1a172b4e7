/**
 * Builds the trained interaction model's training data in a compact form that travels to the
 * GPU machine: the dMel codes of thousands of user utterances (espeak-ng voices, each sent
 * through the edge's own Opus encode and decode and its own dMel extractor, so the model hears
 * what the edge computes), the dMel of background noise at several levels, and the assistant's
 * lines as 16 kHz audio. train/conversations.py lays them out into two-party conversations on
 * the GPU machine, as many as training wants.
 *
 *   deno run -A train/make_dataset.ts --out=DIR [--lines=500] [--seed=7]
 *
 * Writes DIR/user_dmel.bin.gz (uint8, 80 codes per 10 ms frame, utterances back to back),
 * DIR/user_clips.json (each utterance's text, kind, first frame and frame count),
 * DIR/noise_dmel.bin.gz and DIR/noise.json (noise floors), DIR/assistant_<line>.wav and
 * DIR/assistant.json.
 *
 * @module
 */
import { join } from "node:path";
import { flag, numberFlag } from "../bench/bench_support.ts";
import { speak } from "../eval/espeak_speech.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { encodeWav } from "../lib/wav_file.ts";
import { DmelExtractor } from "../pipeline/dmel.ts";
import { OpusDecoder, OpusEncoder } from "../pipeline/opus_codec.ts";
import { DMEL_BINS, SAMPLE_RATE_HZ, SAMPLES_PER_FRAME } from "../protocol/media_format.ts";
import { ASSISTANT_LINES, userLines } from "./speech_corpus.ts";

/** The user's voices: the benchmark's seven and four more. */
const VOICES = [
  "en-us",
  "en-gb",
  "en-gb-scotland",
  "en-029",
  "en-us+f3",
  "en-gb+f2",
  "en-us+m3",
  "en-us+f2",
  "en-gb+m3",
  "en-us+f4",
  "en-gb-x-rp",
];

/** The dMel codes the edge computes for `samples` after an Opus round trip. */
export function edgeDmel(samples: Int16Array): Uint8Array {
  const encoder = new OpusEncoder();
  const decoder = new OpusDecoder();
  const dmel = new DmelExtractor();
  // One frame of silence after the speech, so the frames whose window holds its end are kept.
  const frames = Math.ceil(samples.length / SAMPLES_PER_FRAME) + 1;
  const padded = new Int16Array(frames * SAMPLES_PER_FRAME);
  padded.set(samples);
  const out = new Uint8Array(dmel.framesFor(padded.length) * DMEL_BINS);
  let at = 0;
  try {
    for (let f = 0; f < frames; f++) {
      const pcm = decoder.decode(
        encoder.encode(padded.subarray(f * SAMPLES_PER_FRAME, (f + 1) * SAMPLES_PER_FRAME)),
      );
      at += dmel.push(pcm, out.subarray(at)).length;
    }
  } finally {
    encoder.close();
    decoder.close();
  }
  return out.subarray(0, at);
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** White or brown noise at `dbfs` RMS, `seconds` long. */
function noise(seconds: number, dbfs: number, brown: boolean, random: () => number): Int16Array {
  const out = new Int16Array(Math.round(seconds * SAMPLE_RATE_HZ));
  const raw = new Float64Array(out.length);
  let state = 0;
  for (let i = 0; i < raw.length; i++) {
    const white = 2 * random() - 1;
    state = brown ? 0.98 * state + 0.2 * white : white;
    raw[i] = state;
  }
  const rms = Math.sqrt(raw.reduce((s, x) => s + x * x, 0) / raw.length);
  const gain = (32768 * 10 ** (dbfs / 20)) / rms;
  for (let i = 0; i < raw.length; i++) out[i] = Math.round(raw[i] * gain);
  return out;
}

/** Builds the data set under `out`. */
export async function makeDataset(out: string, lines: number, seed: number): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const random = seededRandom(seed);
  const between = (low: number, high: number) => low + random() * (high - low);
  const corpus = userLines(lines, random);
  const voices = corpus.map(() => ({
    voice: VOICES[Math.floor(random() * VOICES.length)],
    rate: Math.round(between(130, 200)),
    pitch: Math.round(between(30, 70)),
  }));
  // A completion is spoken by the speaker who left the sentence unfinished.
  corpus.forEach((line, i) => {
    if (line.completion !== undefined) voices[line.completion] = voices[i];
  });
  const codes: Uint8Array[] = new Array(corpus.length);
  let next = 0;
  const worker = async () => {
    while (next < corpus.length) {
      const i = next++;
      codes[i] = edgeDmel(await speak(corpus[i].text, voices[i]));
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  let frame = 0;
  const clips = corpus.map((line, i) => {
    const frames = codes[i].length / DMEL_BINS;
    const clip = { ...line, voice: voices[i].voice, start: frame, frames };
    frame += frames;
    return clip;
  });
  await Deno.writeFile(join(out, "user_dmel.bin.gz"), await gzip(concat(codes)));
  await Deno.writeTextFile(join(out, "user_clips.json"), JSON.stringify(clips));

  const floors: { dbfs: number; brown: boolean; start: number; frames: number }[] = [];
  const noiseCodes: Uint8Array[] = [];
  frame = 0;
  for (const dbfs of [-75, -65, -55, -45]) {
    for (const brown of [false, true]) {
      const c = edgeDmel(noise(10, dbfs, brown, random));
      noiseCodes.push(c);
      floors.push({ dbfs, brown, start: frame, frames: c.length / DMEL_BINS });
      frame += c.length / DMEL_BINS;
    }
  }
  await Deno.writeFile(join(out, "noise_dmel.bin.gz"), await gzip(concat(noiseCodes)));
  await Deno.writeTextFile(join(out, "noise.json"), JSON.stringify(floors));

  const assistant: Record<string, { text: string; samples: number }> = {};
  for (const [name, text] of Object.entries(ASSISTANT_LINES)) {
    const samples = await speak(text, { voice: "en-us", rate: 135, pitch: 50 });
    await Deno.writeFile(join(out, `assistant_${name}.wav`), encodeWav(samples, SAMPLE_RATE_HZ));
    assistant[name] = { text, samples: samples.length };
  }
  await Deno.writeTextFile(join(out, "assistant.json"), JSON.stringify(assistant));
  const seconds = clips.reduce((s, c) => s + c.frames, 0) / 100;
  console.log(
    `${clips.length} utterances (${seconds.toFixed(0)} s) and the assistant's lines in ${out}`,
  );
}

if (import.meta.main) {
  const out = flag("out");
  if (!out) {
    console.error("usage: deno run -A train/make_dataset.ts --out=DIR [--lines=500] [--seed=7]");
    Deno.exit(2);
  }
  await makeDataset(out, numberFlag("lines", 500), numberFlag("seed", 7));
}
