/**
 * Edge capacity on this machine. Writes bench/results/edge-capacity.json.
 *
 * 1. Cost per stage, in CPU microseconds per session-second of audio (50 packets in, 50
 *    out; the speech fixture, its pauses as the SDK sends them: empty frames): framing (RTP
 *    parse + jitter buffer in, RTP serialization out), Opus decode (an empty frame is silence,
 *    as in the edge's decode stage), dMel, Opus encode; `total` is the whole path as the edge
 *    runs it (ingress web-stream pipeline + egress packetizer), so it includes stream
 *    overhead. The floor is the codec alone: libopus decode + encode of the same audio with
 *    nothing around it.
 * 2. Capacity: N simulated sessions in this one process (JavaScript runs on one thread, so
 *    this is one core), each fed 50 packets/s in real time (phases spread over the 200 ms
 *    micro-turn period, as sessions that started at unrelated times are)
 *    and encoding 50 output frames/s. Assembly lag = when a micro-turn leaves the assembler
 *    minus when its last packet was due to arrive. N grows until p99 lag passes 10 ms; the
 *    largest N below is `sessions_per_core`.
 *
 *   deno task bench:edge [--seconds=4]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { createIngressPipeline } from "../pipeline/ingress_pipeline.ts";
import { JitterBuffer } from "../pipeline/jitter_buffer.ts";
import { OpusDecoder, OpusEncoder } from "../pipeline/opus_codec.ts";
import { DmelExtractor } from "../pipeline/dmel.ts";
import { parseRtpPacket, serializeRtpPacket } from "../pipeline/rtp_packet.ts";
import { EgressPacketizer } from "../pipeline/egress_packetizer.ts";
import { decodeAsEdge, speechPackets } from "../tests/support/protocol_client.ts";
import { isEmptyOpusPacket } from "../pipeline/opus_packet.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  MICRO_TURN_MS,
  OPUS_PAYLOAD_TYPE,
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";

const stepSeconds = numberFlag("seconds", 4);
const LAG_BOUND_MS = 10;

const fixture = speechFixture();
/** 30 s of speech, looped, as 20 ms RTP packets with rising numbers. */
const SECONDS_OF_AUDIO = 30;
const pcm = loopSamples(fixture, SECONDS_OF_AUDIO * 50 * SAMPLES_PER_FRAME);
const packets = speechPackets(pcm);
const outputTurn = pcm.subarray(0, SAMPLES_PER_MICRO_TURN);

// ---- 1. Cost per stage ----------------------------------------------------------------

/** Runs `body` over every packet `rounds` times; returns µs per session-second. */
function costOf(rounds: number, body: (i: number) => void): number {
  const start = performance.now();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < packets.length; i++) body(i);
  const ms = performance.now() - start;
  return (ms * 1000) / (rounds * SECONDS_OF_AUDIO);
}

const rounds = 2;
const decoded = (() => {
  const decoder = new OpusDecoder();
  const frames = packets.map((p) => decodeAsEdge(decoder, parseRtpPacket(p).payload));
  decoder.close();
  return frames;
})();
const encodedPayloads = (() => {
  const encoder = new OpusEncoder();
  const payloads = decoded.map((f) => encoder.encode(f));
  encoder.close();
  return payloads;
})();

const framingIn = (() => {
  let buffer = new JitterBuffer(0);
  return costOf(rounds, (i) => {
    if (i === 0) buffer = new JitterBuffer(0);
    const arrival = (i + 1) * AUDIO_FRAME_MS + 30;
    buffer.insert(parseRtpPacket(packets[i]), arrival);
    buffer.poll(arrival);
  });
})();
const framingOut = costOf(rounds, (i) =>
  void serializeRtpPacket({
    payloadType: OPUS_PAYLOAD_TYPE,
    marker: false,
    sequenceNumber: i & 0xffff,
    timestamp: i * 960,
    ssrc: 1,
    payload: encodedPayloads[i],
  }));
const decode = (() => {
  let decoder = new OpusDecoder();
  const payloads = packets.map((p) => parseRtpPacket(p).payload);
  const cost = costOf(rounds, (i) => {
    if (i === 0) {
      decoder.close();
      decoder = new OpusDecoder();
    }
    if (!isEmptyOpusPacket(payloads[i])) decoder.decode(payloads[i]);
  });
  decoder.close();
  return cost;
})();
const dmel = (() => {
  const extractor = new DmelExtractor();
  return costOf(rounds, (i) => void extractor.push(decoded[i]));
})();
const encode = (() => {
  const encoder = new OpusEncoder();
  const cost = costOf(rounds, (i) => void encoder.encode(decoded[i]));
  encoder.close();
  return cost;
})();

/** The whole path as the edge runs it: ingress streams and egress packetizer. */
async function wholePath(): Promise<number> {
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    const pipeline = createIngressPipeline({ sessionId: crypto.randomUUID(), startMs: 0 });
    const packetizer = new EgressPacketizer();
    const done = pipeline.readable.pipeTo(
      new WritableStream({ write: () => void packetizer.packetize(outputTurn) }),
    );
    const writer = pipeline.writable.getWriter();
    for (let i = 0; i < packets.length; i++) {
      await writer.write({
        type: "rtp",
        packet: parseRtpPacket(packets[i]),
        arrivalMs: (i + 1) * AUDIO_FRAME_MS + 30,
      });
    }
    await writer.close();
    await done;
    packetizer.close();
  }
  return ((performance.now() - start) * 1000) / (rounds * SECONDS_OF_AUDIO);
}
const total = await wholePath();
const codecFloor = decode + encode;

// ---- 2. Capacity ----------------------------------------------------------------------

/** Runs `n` sessions in real time for `seconds`; returns the p99 assembly lag in ms. */
async function capacityRun(n: number, seconds: number): Promise<number> {
  const lags: number[] = [];
  const t0 = performance.now() + 50;
  const sessions = Array.from({ length: n }, (_, s) => {
    const pipeline = createIngressPipeline({ sessionId: crypto.randomUUID(), startMs: t0 });
    const packetizer = new EgressPacketizer();
    // Sessions start at unrelated times: their micro-turns close spread over the period.
    const offset = (s / n) * MICRO_TURN_MS;
    const dueAt = (i: number) => t0 + offset + (i + 1) * AUDIO_FRAME_MS;
    const done = pipeline.readable.pipeTo(
      new WritableStream({
        write(turn) {
          const lastPacket = (turn.index + 1) * FRAMES_PER_MICRO_TURN - 1;
          lags.push(performance.now() - dueAt(lastPacket));
          // The worker's answer for this micro-turn goes out: 10 frames to encode.
          packetizer.packetize(outputTurn);
        },
      }),
    );
    return { writer: pipeline.writable.getWriter(), packetizer, done, dueAt, next: 0 };
  });
  const total = (seconds * 1000) / AUDIO_FRAME_MS;
  while (sessions.some((s) => s.next < total)) {
    const now = performance.now();
    for (const session of sessions) {
      while (session.next < total && session.dueAt(session.next) <= now) {
        const i = session.next++;
        session.writer.write({
          type: "rtp",
          packet: parseRtpPacket(packets[i]),
          arrivalMs: now,
        });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  for (const session of sessions) {
    await session.writer.close();
    await session.done;
    session.packetizer.close();
  }
  // The first second warms up the JIT and the allocator.
  return quantile(lags.slice(n * 5), 0.99);
}

const rows: { sessions: number; p99_assembly_lag_ms: number }[] = [];
let sessionsPerCore = 0;
let lagAtCapacity = 0;
for (let n = 10; n <= 2000; n = Math.round(n * 1.25)) {
  const p99 = await capacityRun(n, stepSeconds);
  rows.push({ sessions: n, p99_assembly_lag_ms: Number(p99.toFixed(2)) });
  console.log(`${n} sessions: p99 assembly lag ${p99.toFixed(2)} ms`);
  if (p99 >= LAG_BOUND_MS) break;
  sessionsPerCore = n;
  lagAtCapacity = p99;
}

const round = (x: number) => Number(x.toFixed(1));
const result = {
  machine: machineDescription(),
  sessions_per_core: sessionsPerCore,
  p99_assembly_lag_ms: Number(lagAtCapacity.toFixed(2)),
  us_per_session_second: {
    decode: round(decode),
    dmel: round(dmel),
    encode: round(encode),
    framing: round(framingIn + framingOut),
    total: round(total),
  },
  codec_floor_us_per_session_second: round(codecFloor),
  total_over_floor: Number((total / codecFloor).toFixed(2)),
  capacity_steps: rows,
};
console.log(JSON.stringify(result, null, 2));
await writeResult("edge-capacity.json", result);
