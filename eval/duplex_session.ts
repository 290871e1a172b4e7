/**
 * Streams one sample's input through the real system as a client would, and records what the
 * client would hear, time-aligned with the input:
 *
 * - the input goes up as 20 ms RTP/Opus packets over a WebSocket (npm `ws`, which sets
 *   TCP_NODELAY as browsers do), each packet sent when the network profile says it reaches
 *   the edge (eval uplink: sent at its capture end plus the profile's delay, lost ones never
 *   sent, in order as TCP delivers): the edge's jitter buffer sees the profile for real;
 * - the output comes back as RTP/Opus, is decoded, and is placed where the SDK's player
 *   (client/sdk/worklets.ts) would play it: on arrival, or right after what it still holds.
 *   Arrivals are first delayed by the profile's downlink (an independent trace); the client
 *   never reacts to what it hears, so delaying the times equals delaying the delivery.
 *
 * Media time 0 is when the input's first sample is captured; the output has the input's length.
 *
 * @module
 */
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";
import { createSession, speechPackets } from "../tests/support/protocol_client.ts";
import {
  type Arrival,
  arrivalTrace,
  type NetworkProfile,
} from "../tests/support/arrival_traces.ts";
import { parseRtpPacket } from "../pipeline/rtp_packet.ts";
import { OpusDecoder } from "../pipeline/opus_codec.ts";
import type { ServerMessage } from "../protocol/client_messages.ts";
import { AUDIO_FRAME_MS, SAMPLE_RATE_HZ, SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** What a streamed session produced. */
export interface DuplexRun {
  /** The output as heard, aligned with the input, same length. */
  output: Int16Array;
  /** Input packets sent (the profile's losses are not). */
  sentPackets: number;
  /** Output packets received. */
  receivedPackets: number;
  /** Output packets the downlink profile lost. */
  downlinkLost: number;
  /** Micro-turns the edge ran. */
  microTurns: number;
}

/** Raised when the edge refuses or drops the session. */
export class DuplexSessionError extends Error {
  /** @param detail what happened */
  constructor(detail: string) {
    super(`duplex session failed: ${detail}`);
    this.name = "DuplexSessionError";
  }
}

/** One-way delay of each packet index of `trace` beyond its send time; NaN where lost. */
function delays(trace: Arrival[], packets: number): Float64Array {
  const out = new Float64Array(packets).fill(NaN);
  for (const { packet, atMs } of trace) out[packet] = atMs - (packet + 1) * AUDIO_FRAME_MS;
  return out;
}

/**
 * Streams `input` (16 kHz mono) to the edge at `edgeUrl` through `profile` (seeded by `seed`),
 * and resolves with the time-aligned output once the edge closed the session.
 */
export async function streamSample(
  edgeUrl: string,
  input: Int16Array,
  profile: NetworkProfile,
  seed: number,
  signal?: AbortSignal,
): Promise<DuplexRun> {
  const frames = Math.ceil(input.length / SAMPLES_PER_FRAME);
  const padded = new Int16Array(frames * SAMPLES_PER_FRAME);
  padded.set(input);
  const packets = speechPackets(padded);
  // Profiles (handovers) have events tens of seconds in: start each sample somewhere along one.
  const skip = Math.floor((seed % 50) * 1000 / AUDIO_FRAME_MS);
  const shift = (trace: Arrival[]) =>
    trace.filter((a) => a.packet >= skip).map((a) => ({
      packet: a.packet - skip,
      atMs: a.atMs - skip * AUDIO_FRAME_MS,
    }));
  const uplink = shift(arrivalTrace(profile, skip + frames, seed, 0));
  const downlink = delays(
    shift(arrivalTrace(profile, skip + 4 * frames, seed + 7919, 0)),
    4 * frames,
  );

  const { sessionId, token } = await createSession(edgeUrl);
  const socket = new NodelayWebSocket(
    `${edgeUrl.replace("http", "ws")}/v1/sessions/${sessionId}/ws?token=${token}`,
  );
  socket.binaryType = "arraybuffer";
  const ready = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<number>();
  const output = new Int16Array(input.length);
  const decoder = new OpusDecoder();
  let t0 = NaN;
  let received = 0;
  let downlinkLost = 0;
  let lastArrival = -Infinity;
  let playedUntil = -Infinity;
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data) as ServerMessage;
      if (message.type === "ready") ready.resolve();
      if (message.type === "closed") closed.resolve(message.microTurns);
      if (message.type === "error") ready.reject(new DuplexSessionError(message.message));
      return;
    }
    const now = performance.now();
    const packet = parseRtpPacket(new Uint8Array(event.data as ArrayBuffer));
    const delay = downlink[received++];
    if (Number.isNaN(t0)) return;
    if (delay === undefined || Number.isNaN(delay)) {
      downlinkLost++;
      return;
    }
    const arrival = Math.max(lastArrival, now + delay);
    lastArrival = arrival;
    const pcm = decoder.decode(packet.payload);
    // The SDK's player: plays on arrival, or right after what it still holds.
    const playAt = Math.max(arrival, playedUntil);
    playedUntil = playAt + (pcm.length / SAMPLE_RATE_HZ) * 1000;
    const at = Math.round(((playAt - t0) / 1000) * SAMPLE_RATE_HZ);
    if (at >= 0 && at < output.length) output.set(pcm.subarray(0, output.length - at), at);
  });
  socket.addEventListener("close", (event) => {
    ready.reject(new DuplexSessionError(`socket closed (${event.code}) before ready`));
    closed.resolve(-1);
  });
  socket.addEventListener("error", () => ready.reject(new DuplexSessionError("socket error")));
  const abort = () => socket.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await ready.promise;
    t0 = performance.now() + 20;
    for (const { packet, atMs } of uplink) {
      signal?.throwIfAborted();
      const wait = t0 + atMs - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      socket.send(packets[packet]);
    }
    // What the input asked of the model plays out before the session ends.
    const tail = t0 + (input.length / SAMPLE_RATE_HZ) * 1000 - performance.now();
    if (tail > 0) await new Promise((resolve) => setTimeout(resolve, tail));
    socket.send(JSON.stringify({ type: "bye" }));
    const microTurns = await closed.promise;
    if (microTurns < 0) throw new DuplexSessionError("the edge closed the socket before `closed`");
    return {
      output,
      sentPackets: uplink.length,
      receivedPackets: received,
      downlinkLost,
      microTurns,
    };
  } finally {
    signal?.removeEventListener("abort", abort);
    decoder.close();
    socket.close();
  }
}
