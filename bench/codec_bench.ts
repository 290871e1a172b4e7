/**
 * Opus by numbers: which libopus build and which encoder settings the edge should run.
 * Writes bench/results/codec.json.
 *
 * For each build (native libopus through FFI where the system has it, the WebAssembly build
 * with SIMD, the plain WebAssembly build) and encoder complexity: CPU microseconds per
 * session-second to encode and to decode 30 s of the speech fixture in 20 ms frames (the
 * edge's work per speaking session), the bitrate, and the quality kept: the log-spectral
 * distance (dB, lower is closer) between the fixture and its decoded audio over the frames
 * that carry sound, aligned for the codec's delay. Every configuration runs once per round,
 * rounds interleaved, and each figure is the median over rounds, so ratios between builds
 * come from the same minutes of this shared machine. `chosen_complexity` is the cheapest
 * whose two quality measures stay within 5 % of complexity 10's (libopus's default).
 *
 *   deno task bench:codec [--rounds=5]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { OpusDecoder, OpusEncoder, type OpusLibrary, opusLibrary } from "../pipeline/opus_codec.ts";
import { codecDelay, dmelDifference, logSpectralDistance } from "./codec_quality.ts";
import { SAMPLE_RATE_HZ, SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

const rounds = numberFlag("rounds", 5);
const SECONDS = 30;
const pcm = loopSamples(speechFixture(), SECONDS * SAMPLE_RATE_HZ);
const frames = Array.from(
  { length: pcm.length / SAMPLES_PER_FRAME },
  (_, i) => pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME),
);

const libraries: OpusLibrary[] = [];
for (const name of ["native", "wasm-simd", "wasm"]) {
  try {
    libraries.push(opusLibrary(name));
  } catch (error) {
    console.log(`${name}: not available here (${(error as Error).message})`);
  }
}
const COMPLEXITIES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/** A setting keeps the quality when both measures are within this of complexity 10's. */
const QUALITY_TOLERANCE = 1.05;

/** Encodes every frame; returns the packets and the CPU µs per session-second. */
function encodeAll(library: OpusLibrary, complexity: number) {
  const encoder = new OpusEncoder({ library, complexity });
  const start = performance.now();
  const packets = frames.map((frame) => encoder.encode(frame));
  const us = ((performance.now() - start) * 1000) / SECONDS;
  encoder.close();
  return { packets, us };
}

/** Decodes every packet; returns the PCM and the CPU µs per session-second. */
function decodeAll(library: OpusLibrary, packets: Uint8Array[]) {
  const decoder = new OpusDecoder(SAMPLE_RATE_HZ, library);
  const out = new Int16Array(pcm.length);
  const start = performance.now();
  packets.forEach((packet, i) => out.set(decoder.decode(packet), i * SAMPLES_PER_FRAME));
  const us = ((performance.now() - start) * 1000) / SECONDS;
  decoder.close();
  return { out, us };
}

// ---- Rounds -----------------------------------------------------------------------------

interface Sample {
  encode: number[];
  decode: number[];
  bytes: number;
  lsd: number;
  dmel: number;
}
const samples = new Map<string, Sample>();
const reference = libraries[0];
for (let round = 0; round < rounds; round++) {
  for (const library of libraries) {
    for (const complexity of COMPLEXITIES) {
      const key = `${library.name}/${complexity}`;
      const { packets, us: encodeUs } = encodeAll(library, complexity);
      const { us: decodeUs } = decodeAll(library, packets);
      let sample = samples.get(key);
      if (!sample) {
        // Quality depends on the bits only: measured once, decoded by one build.
        const bytes = packets.reduce((sum, p) => sum + p.length, 0);
        const { out } = decodeAll(reference, packets);
        const delay = codecDelay(pcm, out);
        sample = {
          encode: [],
          decode: [],
          bytes,
          lsd: logSpectralDistance(pcm, out, delay),
          dmel: dmelDifference(pcm, out, delay),
        };
        samples.set(key, sample);
      }
      sample.encode.push(encodeUs);
      sample.decode.push(decodeUs);
    }
  }
  console.log(`round ${round + 1}/${rounds} done`);
}

const round1 = (x: number) => Number(x.toFixed(1));
const configurations = [...samples].map(([key, s]) => {
  const [library, complexity] = key.split("/");
  return {
    library,
    complexity: Number(complexity),
    encode_us_per_session_second: round1(quantile(s.encode, 0.5)),
    decode_us_per_session_second: round1(quantile(s.decode, 0.5)),
    bitrate_kbps: round1((s.bytes * 8) / SECONDS / 1000),
    log_spectral_distance_db: Number(s.lsd.toFixed(3)),
    dmel_code_difference: Number(s.dmel.toFixed(3)),
  };
});
const medianOf = (library: string, complexity: number) =>
  configurations.find((c) => c.library === library && c.complexity === complexity)!;
const best = libraries[0].name;
// The cheapest complexity (by the first build) whose two quality measures stay within 5 % of
// libopus's own default, complexity 10.
const byCost = configurations.filter((c) => c.library === best)
  .sort((a, b) => a.encode_us_per_session_second - b.encode_us_per_session_second);
const top = medianOf(best, 10);
const chosen = byCost.find((c) =>
  c.log_spectral_distance_db <= top.log_spectral_distance_db * QUALITY_TOLERANCE &&
  c.dmel_code_difference <= top.dmel_code_difference * QUALITY_TOLERANCE
)!;
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
const ratios = Object.fromEntries(
  libraries.slice(1).flatMap((l) => [
    [
      `${l.name}_over_${best}_encode`,
      ratio(
        medianOf(l.name, chosen.complexity).encode_us_per_session_second,
        chosen.encode_us_per_session_second,
      ),
    ],
    [
      `${l.name}_over_${best}_decode`,
      ratio(
        medianOf(l.name, chosen.complexity).decode_us_per_session_second,
        chosen.decode_us_per_session_second,
      ),
    ],
  ]),
);
const result = {
  machine: machineDescription(),
  libraries: libraries.map((l) => l.name),
  rounds,
  encoder: "mono VoIP, 16 kHz, 24 kbit/s, in-band FEC at 5 % expected loss, 20 ms frames",
  chosen_complexity: chosen.complexity,
  chosen_over_complexity_10_encode: ratio(
    chosen.encode_us_per_session_second,
    top.encode_us_per_session_second,
  ),
  ratios,
  configurations,
};
console.table(configurations);
console.log(JSON.stringify({ chosen: chosen.complexity, ...ratios }));
await writeResult("codec.json", result);
