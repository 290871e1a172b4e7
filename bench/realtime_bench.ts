/**
 * What the Realtime API layer costs at the edge, against the native protocol, interleaved in
 * one run on the same speech. Per session-second, in one process on one core:
 *
 * - native: 50 RTP/Opus packets parsed and decoded (what the ingress does), and 5 micro-turns of
 *   output Opus-encoded into RTP packets (what the egress does);
 * - realtime: 10 `input_audio_buffer.append` events of 100 ms pcm16 at 24 kHz through the
 *   bridge (JSON, base64, resampling to 16 kHz, L16 packets, parsed back to samples as the
 *   pipeline does), and 5 micro-turns of output through the bridge (L16 packets, resampling to
 *   24 kHz, base64, the response's events as JSON).
 *
 * Also the added latency on the output path: from the worker's output reaching the edge to the
 * first audio leaving toward the client (the first Opus packet, or the first
 * `response.output_audio.delta`), per micro-turn. The rest of the path (jitter buffer, dMel,
 * worker, event log) is the same code for both. Writes bench/results/realtime.json.
 *
 *   deno task bench:realtime [--rounds=200]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { speechFixture } from "../tests/support/speech_fixture.ts";
import { speechPackets } from "../tests/support/protocol_client.ts";
import { parseRtpPacket } from "../pipeline/rtp_packet.ts";
import { l16Samples } from "../pipeline/l16_samples.ts";
import { OpusDecoder } from "../pipeline/opus_codec.ts";
import { EgressPacketizer } from "../pipeline/egress_packetizer.ts";
import { RealtimeBridge } from "../edge/realtime/realtime_bridge.ts";
import { encodeFormat, Resampler } from "../edge/realtime/audio_formats.ts";
import type { EdgeSession } from "../edge/edge_session.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";

const rounds = numberFlag("rounds", 200);
const speech = speechFixture().subarray(0, 16_000); // one second
const opusPackets = speechPackets(speech);
const outputTurns = Array.from(
  { length: 5 },
  (_, i) => speech.slice(i * SAMPLES_PER_MICRO_TURN, (i + 1) * SAMPLES_PER_MICRO_TURN),
);
const pcm24 = encodeFormat("audio/pcm", new Resampler(16_000, 24_000).push(speech));
const appends = Array.from({ length: 10 }, (_, i) =>
  JSON.stringify({
    type: "input_audio_buffer.append",
    audio: btoa(String.fromCharCode(...pcm24.subarray(i * 4800, (i + 1) * 4800))),
  }));

function nativeSecond(): { ms: number; firstAudioMs: number[] } {
  const started = performance.now();
  const decoder = new OpusDecoder();
  for (const packet of opusPackets) decoder.decode(parseRtpPacket(packet).payload);
  decoder.close();
  const packetizer = new EgressPacketizer();
  const firstAudioMs: number[] = [];
  for (const turn of outputTurns) {
    const at = performance.now();
    const packets = packetizer.packetize(turn);
    JSON.stringify({ type: "output", index: 0, control: "speak", text: "", audioFrames: 10 });
    firstAudioMs.push(performance.now() - at);
    if (packets.length !== 10) throw new Error("10 packets a micro-turn");
  }
  packetizer.close();
  return { ms: performance.now() - started, firstAudioMs };
}

function realtimeSecond(): { ms: number; firstAudioMs: number[] } {
  let firstDeltaAt: number | undefined;
  const started = performance.now();
  const bridge = new RealtimeBridge({
    socket: {
      send: (data) => {
        if (firstDeltaAt === undefined && data.includes('"response.output_audio.delta"')) {
          firstDeltaAt = performance.now();
        }
      },
      close: () => {},
      bufferedAmount: 0,
    },
    sessionId: "00000000-0000-4000-8000-000000000001",
    model: "reference",
    maxMessageBytes: 1 << 20,
    clock: { now: () => Date.now() },
  });
  // What the pipeline does with each L16 packet: parse it, read its samples.
  bridge.attach({
    receiveBinary: (bytes: Uint8Array) => l16Samples(parseRtpPacket(bytes).payload),
    receiveText: () => {},
  } as unknown as EdgeSession);
  for (const append of appends) bridge.receive(append);
  const packetizer = new EgressPacketizer(Math.random, "l16");
  const firstAudioMs: number[] = [];
  for (const turn of outputTurns) {
    const at = performance.now();
    firstDeltaAt = undefined;
    const packets = packetizer.packetize(turn);
    bridge.send(
      JSON.stringify({ type: "output", index: 0, control: "speak", text: "", audioFrames: 10 }),
    );
    for (const packet of packets) bridge.send(packet);
    firstAudioMs.push(firstDeltaAt! - at);
  }
  bridge.send(
    JSON.stringify({ type: "output", index: 0, control: "silent", text: "", audioFrames: 10 }),
  );
  return { ms: performance.now() - started, firstAudioMs };
}

// Warm both paths, then interleave.
for (let i = 0; i < 20; i++) {
  nativeSecond();
  realtimeSecond();
}
const native = { ms: [] as number[], first: [] as number[] };
const realtime = { ms: [] as number[], first: [] as number[] };
for (let round = 0; round < rounds; round++) {
  const n = nativeSecond();
  native.ms.push(n.ms);
  native.first.push(...n.firstAudioMs);
  const r = realtimeSecond();
  realtime.ms.push(r.ms);
  realtime.first.push(...r.firstAudioMs);
}
const q = (values: number[], p: number) =>
  Number(quantile(values.sort((a, b) => a - b), p).toFixed(3));
const result = {
  machine: machineDescription(),
  rounds,
  native_codec_ms_per_session_second_p50: q(native.ms, 0.5),
  realtime_layer_ms_per_session_second_p50: q(realtime.ms, 0.5),
  realtime_over_native_cpu: Number((q(realtime.ms, 0.5) / q(native.ms, 0.5)).toFixed(2)),
  native_sessions_per_core_codec_only: Math.floor(1000 / q(native.ms, 0.5)),
  realtime_sessions_per_core_layer_only: Math.floor(1000 / q(realtime.ms, 0.5)),
  native_first_audio_ms_p50: q(native.first, 0.5),
  native_first_audio_ms_p99: q(native.first, 0.99),
  realtime_first_audio_delta_ms_p50: q(realtime.first, 0.5),
  realtime_first_audio_delta_ms_p99: q(realtime.first, 0.99),
  note:
    "codec/adapter layer only, the rest of the edge is the same code for both; per session-second: 1 s of speech in, 5 micro-turns out",
};
console.log(JSON.stringify(result, null, 2));
await writeResult("realtime.json", result);
