/**
 * The interactivity benchmark end to end: one short sample in the benchmark's layout streams
 * through a real edge process and each backend's worker over WebSocket, and comes back as a
 * time-aligned `output.wav` that the offline scoring reads.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { encodeWav } from "../lib/wav_file.ts";
import { speechFixture } from "./support/speech_fixture.ts";
import { trimSilence } from "../eval/espeak_speech.ts";
import { findSamples, readOutput } from "../eval/duplex_samples.ts";
import { runSamples, scoreSamples } from "../eval/duplex_eval.ts";
import { DUPLEX_BACKENDS, startDuplexSystem } from "../eval/duplex_system.ts";
import { SileroVad } from "../eval/silero_vad.ts";
import { NETWORK_PROFILES } from "./support/arrival_traces.ts";
import { REPLY_AFTER_SILENCE_MS } from "../eval/turn_taking_policy.ts";
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

/** A smooth turn-taking sample: the speech fixture (its own pauses < 600 ms), then 2.5 s. */
async function turnTakingSample(root: string): Promise<{ turnEnd: number }> {
  const speech = speechFixture();
  const voiced = trimSilence(speech);
  const start = speech.indexOf(voiced[0]);
  const turnEnd = (start + voiced.length) / SAMPLE_RATE_HZ;
  const input = new Int16Array(speech.length + 2.5 * SAMPLE_RATE_HZ);
  input.set(speech);
  const dir = join(root, "turn_taking_001");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "input.wav"), encodeWav(input, SAMPLE_RATE_HZ));
  await Deno.writeTextFile(
    join(dir, "turn_taking.json"),
    JSON.stringify([{ timestamp: [turnEnd, input.length / SAMPLE_RATE_HZ] }]),
  );
  return { turnEnd };
}

for (const backend of DUPLEX_BACKENDS) {
  Deno.test({
    name: `eval:duplex streams a sample through edge and the ${backend} backend into output.wav`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const root = await Deno.makeTempDir();
      const vad = SileroVad.load();
      const system = await startDuplexSystem(backend);
      try {
        await turnTakingSample(root);
        const samples = await findSamples(root);
        deepStrictEqual(samples.map((s) => s.truth.task), ["smooth_turn_taking"]);
        await runSamples(system.edgeUrl, samples, NETWORK_PROFILES[0], { seed: 3 });
        const output = await readOutput(samples[0].dir);
        // Same length and origin as the input, as the benchmark's scoring expects.
        deepStrictEqual(output.length / SAMPLE_RATE_HZ, samples[0].truth.inputSeconds);
        ok(output.some((s) => s !== 0), "the client heard the backend's audio");
        const [score] = (await scoreSamples(vad, samples)).get("smooth_turn_taking")!;
        if (backend === "policy") {
          // The policy answers 600 ms after the user's last words; serving adds the rest.
          deepStrictEqual(score.tor, 1);
          ok(score.latency! >= REPLY_AFTER_SILENCE_MS / 1000 - 0.1, `latency ${score.latency}`);
          ok(score.latency! < 1.6, `latency ${score.latency}`);
        }
        if (backend === "trained") {
          // The trained model takes the turn after the user's last words, in speech Silero
          // hears (its lines are at least 1 s), and not before they end.
          deepStrictEqual(score.tor, 1);
          ok(score.latency! > 0.1 && score.latency! < 1.6, `latency ${score.latency}`);
        }
      } finally {
        await system.close();
        vad.close();
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
