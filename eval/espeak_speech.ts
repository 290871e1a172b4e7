/**
 * Speech for synthetic evaluation samples from Debian's `espeak-ng`: one utterance in a given
 * voice, rate and pitch, resampled from espeak's 22 050 Hz to 16 kHz and trimmed to where the
 * voice is, so a sample's ground-truth timings are exact.
 *
 * @module
 */
import { readWav } from "../lib/wav_file.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import { resample } from "../lib/resample.ts";

/** Raised when `espeak-ng` is not installed or fails. */
export class EspeakUnavailableError extends Error {
  /** @param detail what went wrong */
  constructor(detail: string) {
    super(`espeak-ng is needed for synthetic samples (apt install espeak-ng): ${detail}`);
    this.name = "EspeakUnavailableError";
  }
}

/** How an utterance is spoken. */
export interface EspeakVoice {
  /** espeak-ng voice, with an optional variant (`en-us`, `en-gb+f3`). */
  voice: string;
  /** Words per minute. */
  rate: number;
  /** Pitch, 0 to 99. */
  pitch: number;
}

/** Samples whose magnitude is at most this are silence when trimming (-60 dBFS). */
const TRIM_LEVEL = 33;

/** Synthesizes `text` as 16 kHz mono PCM, leading and trailing silence removed. */
export async function speak(text: string, voice: EspeakVoice): Promise<Int16Array> {
  let output: Deno.CommandOutput;
  try {
    // The text goes in on stdin, so no text is ever taken for an option.
    const child = new Deno.Command("espeak-ng", {
      args: ["-v", voice.voice, "-s", String(voice.rate), "-p", String(voice.pitch), "--stdout"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    output = await child.output();
  } catch (error) {
    throw new EspeakUnavailableError((error as Error).message);
  }
  if (!output.success) throw new EspeakUnavailableError(new TextDecoder().decode(output.stderr));
  const wav = readWav(output.stdout);
  return trimSilence(resample(wav.samples, wav.sampleRate, SAMPLE_RATE_HZ));
}

/** `samples` without the leading and trailing runs at or below -60 dBFS. */
export function trimSilence(samples: Int16Array): Int16Array {
  let start = 0;
  let end = samples.length;
  while (start < end && Math.abs(samples[start]) <= TRIM_LEVEL) start++;
  while (end > start && Math.abs(samples[end - 1]) <= TRIM_LEVEL) end--;
  return samples.slice(start, end);
}
