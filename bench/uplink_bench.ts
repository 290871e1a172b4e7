/**
 * The microphone's audio by numbers: what the SDK's encoder settings cost on the uplink and
 * at the edge, and what they keep. Writes bench/results/uplink.json.
 *
 * Each setting encodes 30 s of the speech fixture (its real talk and pauses) with libopus as
 * the SDK asks WebCodecs or its WebAssembly build to, in 20 ms frames; the edge's own stages
 * (pipeline/opus_decode_stage.ts, pipeline/dmel_stage.ts) then decode it and compute its dMel.
 * Reported: the bitrate on the wire (Opus, plus a 12-byte RTP header every 100 ms packet), the
 * edge's CPU per session-second for decoding and for dMel, the share of frames sent empty, and
 * how far the dMel codes of the decoded audio lie from those of the microphone's own samples
 * (bench/codec_quality.ts). The fixture's pauses are digital silence; a real room is not, so
 * each setting also runs with white noise added at -70 dBFS (a quiet room through the
 * browser's noise suppression) and at -50 dBFS (a noisy one, above the silence floor).
 * Settings alternate within each round; figures are medians over rounds.
 *
 *   deno task bench:uplink [--rounds=5]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { codecDelay, dmelDifference } from "./codec_quality.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { OpusEncoder, type OpusEncoderOptions } from "../pipeline/opus_codec.ts";
import { isEmptyOpusPacket } from "../pipeline/opus_packet.ts";
import { RTP_HEADER_BYTES } from "../pipeline/rtp_packet.ts";
import { rmsLevel, SilenceGate } from "../pipeline/silence_floor.ts";
import { OpusDecodeStage } from "../pipeline/opus_decode_stage.ts";
import { DmelStage } from "../pipeline/dmel_stage.ts";
import { Resampler } from "../client/sdk/resampler.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import type { IngressFrame } from "../pipeline/ingress_frames.ts";
import {
  AUDIO_FRAME_MS,
  AUDIO_PACKET_MS,
  SAMPLE_RATE_HZ,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const rounds = numberFlag("rounds", 5);
const SECONDS = 30;
const FRAMES = (SECONDS * 1000) / AUDIO_FRAME_MS;

/** An encoder setting the SDK has asked for. */
interface Setting {
  name: string;
  what: string;
  /** Input rate: 48 kHz as WebCodecs gets it by default, or 16 kHz. */
  inputRate: number;
  encoder: OpusEncoderOptions;
  /** Frames under the silence floor sent empty (pipeline/silence_floor.ts). */
  gate: boolean;
}

const SETTINGS: Setting[] = [
  {
    name: "webcodecs_default",
    what: "what the SDK asked WebCodecs for until now: 48 kHz in, Opus's `audio` application " +
      "(fullband CELT), 24 kbit/s, complexity 5, in-band FEC without an expected loss (none sent)",
    inputRate: 48_000,
    encoder: {
      application: "audio",
      maxBandwidth: "fullband",
      complexity: 5,
      expectedLossPercent: 0,
    },
    gate: false,
  },
  {
    name: "sdk_without_gate",
    what: "the SDK's settings without the silence floor: 16 kHz in, `voip` (wideband SILK), " +
      "up to 24 kbit/s, complexity 5, in-band FEC for 5 % loss",
    inputRate: SAMPLE_RATE_HZ,
    encoder: { application: "voip", complexity: 5, expectedLossPercent: 5 },
    gate: false,
  },
  {
    name: "sdk",
    what: "the SDK now (client/sdk/microphone.ts): those settings, and frames under the " +
      "silence floor sent empty",
    inputRate: SAMPLE_RATE_HZ,
    encoder: { application: "voip", complexity: 5, expectedLossPercent: 5 },
    gate: true,
  },
];
const NOISE_DBFS = [null, -70, -50];

/** The fixture, looped to 30 s, with white noise at `dbfs` (RMS) added, or none. */
function microphone(dbfs: number | null): Int16Array {
  const pcm = loopSamples(speechFixture(), SECONDS * SAMPLE_RATE_HZ);
  if (dbfs === null) return pcm;
  const random = seededRandom(7);
  const amplitude = 32768 * 10 ** (dbfs / 20) * Math.sqrt(3); // uniform noise of that RMS
  return pcm.map((s) => Math.max(-32768, Math.min(32767, s + amplitude * (2 * random() - 1))));
}

/** The microphone's samples at `rate`, as the encoder gets them. */
function atRate(pcm: Int16Array, rate: number): Int16Array {
  if (rate === SAMPLE_RATE_HZ) return pcm;
  const resampler = new Resampler(SAMPLE_RATE_HZ, rate);
  const out = new Int16Array((pcm.length * rate) / SAMPLE_RATE_HZ);
  // The resampler's look-ahead keeps the last few samples until silence follows them.
  const floats = [
    ...resampler.push(Float32Array.from(pcm, (s) => s / 32768)),
    ...resampler.push(new Float32Array(SAMPLES_PER_FRAME)),
  ];
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round(floats[i] * 32768)));
  }
  return out;
}

/** The 20 ms frames the client sends. */
function encode(pcm: Int16Array, setting: Setting): Uint8Array[] {
  const input = atRate(pcm, setting.inputRate);
  const frameSamples = (setting.inputRate * AUDIO_FRAME_MS) / 1000;
  const encoder = new OpusEncoder({ ...setting.encoder, sampleRate: setting.inputRate });
  const gate = new SilenceGate();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < FRAMES; i++) {
    const samples = input.subarray(i * frameSamples, (i + 1) * frameSamples);
    const frame = encoder.encode(samples);
    frames.push(setting.gate ? gate.pass(frame, rmsLevel(samples)) : frame);
  }
  encoder.close();
  return frames;
}

/** The edge's decode and dMel of `frames`: CPU µs per session-second each, and the audio. */
function edge(frames: Uint8Array[]) {
  const decode = new OpusDecodeStage();
  const decoded = new Int16Array(FRAMES * SAMPLES_PER_FRAME);
  let start = performance.now();
  frames.forEach((payload, frameIndex) => {
    decode.transform({ type: "audio_slot", frameIndex, payload }, (frame: IngressFrame) => {
      if (frame.type === "pcm") decoded.set(frame.samples, frameIndex * SAMPLES_PER_FRAME);
    });
  });
  const decodeUs = ((performance.now() - start) * 1000) / SECONDS;
  decode.close();
  const dmel = new DmelStage();
  start = performance.now();
  for (let frameIndex = 0; frameIndex < FRAMES; frameIndex++) {
    const samples = decoded.subarray(
      frameIndex * SAMPLES_PER_FRAME,
      (frameIndex + 1) * SAMPLES_PER_FRAME,
    );
    dmel.transform({ type: "pcm", frameIndex, samples, origin: "decoded" }, () => {});
  }
  const dmelUs = ((performance.now() - start) * 1000) / SECONDS;
  return { decodeUs, dmelUs, decoded };
}

interface Sample {
  decode: number[];
  dmel: number[];
  wireKbps: number;
  opusKbps: number;
  emptyPercent: number;
  dmelDifference: number;
}

const samples = new Map<string, Sample>();
const inputs = new Map(NOISE_DBFS.map((dbfs) => [dbfs, microphone(dbfs)]));
const encoded = new Map<string, Uint8Array[]>();
for (const [dbfs, pcm] of inputs) {
  for (const setting of SETTINGS) encoded.set(`${setting.name}/${dbfs}`, encode(pcm, setting));
}
for (let round = 0; round < rounds; round++) {
  for (const [dbfs, pcm] of inputs) {
    for (const setting of SETTINGS) {
      const key = `${setting.name}/${dbfs}`;
      const frames = encoded.get(key)!;
      const { decodeUs, dmelUs, decoded } = edge(frames);
      let sample = samples.get(key);
      if (!sample) {
        const opusBytes = frames.reduce((sum, frame) => sum + frame.length, 0);
        const packets = (FRAMES * AUDIO_FRAME_MS) / AUDIO_PACKET_MS;
        // Joined five to a packet: a code 3 header and a length a frame instead of five TOCs.
        const wireBytes = opusBytes + packets * (RTP_HEADER_BYTES + 1);
        sample = {
          decode: [],
          dmel: [],
          opusKbps: (opusBytes * 8) / SECONDS / 1000,
          wireKbps: (wireBytes * 8) / SECONDS / 1000,
          emptyPercent: (100 * frames.filter(isEmptyOpusPacket).length) / frames.length,
          dmelDifference: dmelDifference(pcm, decoded, codecDelay(pcm, decoded)),
        };
        samples.set(key, sample);
      }
      sample.decode.push(decodeUs);
      sample.dmel.push(dmelUs);
    }
  }
  console.log(`round ${round + 1}/${rounds} done`);
}

const round2 = (x: number) => Number(x.toFixed(2));
const rows = [...samples].map(([key, s]) => {
  const [setting, dbfs] = key.split("/");
  return {
    setting,
    room_noise_dbfs: dbfs === "null" ? null : Number(dbfs),
    opus_kbps: round2(s.opusKbps),
    wire_kbps: round2(s.wireKbps),
    empty_frames_percent: round2(s.emptyPercent),
    edge_decode_us_per_session_second: Math.round(quantile(s.decode, 0.5)),
    edge_dmel_us_per_session_second: Math.round(quantile(s.dmel, 0.5)),
    dmel_code_difference: Number(s.dmelDifference.toFixed(3)),
  };
});
const row = (setting: string, dbfs: number | null) =>
  rows.find((r) => r.setting === setting && r.room_noise_dbfs === dbfs)!;
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
const now = row("sdk", null);
const before = row("webcodecs_default", null);
const result = {
  machine: machineDescription(),
  rounds,
  seconds: SECONDS,
  settings: SETTINGS.map(({ name, what }) => ({ name, what })),
  sdk_over_webcodecs_default: {
    wire_kbps: ratio(now.wire_kbps, before.wire_kbps),
    edge_decode: ratio(
      now.edge_decode_us_per_session_second,
      before.edge_decode_us_per_session_second,
    ),
    edge_dmel: ratio(now.edge_dmel_us_per_session_second, before.edge_dmel_us_per_session_second),
    dmel_code_difference: ratio(now.dmel_code_difference, before.dmel_code_difference),
  },
  rows,
};
console.table(rows);
console.log(JSON.stringify(result.sdk_over_webcodecs_default));
await writeResult("uplink.json", result);
