/**
 * Real cellular uplinks for bench:jitter: packet-delivery traces recorded on U.S. carriers
 * while driving (bench/traces/, from the Mahimahi project; see bench/traces/README.md),
 * replayed through a link model in the way Mahimahi's `mm-link` replays them.
 *
 * The link: every line of a trace is a millisecond at which up to 1500 bytes leave the
 * bottleneck queue; an opportunity with nothing queued is lost. The sender is the SDK on one
 * WebSocket (TCP, so one in-order byte stream): an audio packet each time its last frame is
 * captured (every 20 ms, or every 100 ms as the SDK sends them) and, when the camera is on, JPEG
 * frames at the SDK's pacing, all queued in the order sent. A message
 * arrives at the edge when its last byte has crossed the link, plus the one-way base latency.
 * So outages hold audio back and release it in a burst, capacity swings move the delay, and a
 * JPEG delays the audio queued behind it.
 *
 * @module
 */
import type { Arrival } from "../tests/support/arrival_traces.ts";
import { AUDIO_FRAME_MS } from "../protocol/media_format.ts";

/** One recorded uplink. */
export interface UplinkTrace {
  /** Carrier and technology, for reports. */
  name: string;
  /** Delivery opportunities, ms from the start of the recording, ascending. */
  opportunities: Float64Array;
  /** Length of the recording, ms (the replay loops after it, as `mm-link` does). */
  lengthMs: number;
}

/** Reads a gzipped Mahimahi trace file (one millisecond timestamp per line). */
export async function readUplinkTrace(path: URL, name: string): Promise<UplinkTrace> {
  const file = await Deno.open(path);
  const text = await new Response(
    file.readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  const opportunities = Float64Array.from(
    text.split("\n").filter((line) => line.trim() !== ""),
    Number,
  );
  return { name, opportunities, lengthMs: opportunities[opportunities.length - 1] };
}

/**
 * The first moment at or after `fromMs` when the link is up: at least 20 opportunities (30 kB)
 * in the next second. A call cannot start inside a dead zone (its WebSocket would not open),
 * so calls replayed from spread-out points of a recording start there.
 */
export function liveStartMs(trace: UplinkTrace, fromMs: number): number {
  const { opportunities } = trace;
  let first = opportunities.findIndex((t) => t >= fromMs);
  if (first < 0) first = 0;
  for (let i = first; i + 20 < opportunities.length; i++) {
    if (opportunities[i + 20] - opportunities[i] <= 1000) return opportunities[i];
  }
  return opportunities[0];
}

/** How the sender uses the link. */
export interface UplinkSender {
  /** Audio packets to send. */
  packets: number;
  /** 20 ms frames a packet carries (default 1): one goes every `20 * framesPerPacket` ms. */
  framesPerPacket?: number;
  /** Where in the recording the call starts, ms. */
  startOffsetMs: number;
  /** One-way propagation delay added to every message, ms. */
  baseLatencyMs: number;
  /** Bytes on the wire per audio packet (RTP + Opus + WebSocket + TCP/IP headers). */
  audioBytes: number;
  /** Bytes per camera frame; 0 for audio alone. */
  jpegBytes: number;
}

/**
 * The SDK's camera pacing (client/sdk/interaction_client.ts): a frame every 500 ms while the
 * socket holds under 32 KiB unsent; when it holds more, the frame is skipped and the interval
 * doubles (up to 4 s); each frame sent shortens it by a fifth again. Here the bytes not yet
 * across the bottleneck stand in for what the socket holds.
 */
const VIDEO = { baseMs: 500, maxMs: 4000, backedUpBytes: 32 * 1024 };

/**
 * When each audio packet reaches the edge over `trace`, as {@linkcode Arrival}s in order
 * (`packet` numbers packets, of `framesPerPacket` frames each).
 */
export function uplinkArrivals(trace: UplinkTrace, sender: UplinkSender): Arrival[] {
  const queue: { bytes: number; packet: number }[] = [];
  let head = 0;
  let remaining = 0;
  let queuedBytes = 0;
  const send = (bytes: number, packet: number) => {
    if (head === queue.length) remaining = bytes;
    queue.push({ bytes, packet });
    queuedBytes += bytes;
  };
  let nextAudio = 0;
  const packetMs = AUDIO_FRAME_MS * (sender.framesPerPacket ?? 1);
  let videoInterval = VIDEO.baseMs;
  let nextVideo = sender.jpegBytes > 0 ? VIDEO.baseMs / 2 : Infinity;
  const arrivals: Arrival[] = [];
  const { opportunities, lengthMs } = trace;
  let index = opportunities.findIndex((t) => t >= sender.startOffsetMs);
  if (index < 0) index = 0;
  let loopMs = -sender.startOffsetMs;
  while (arrivals.length < sender.packets) {
    const at = opportunities[index] + loopMs;
    // What the sender queued up to now, in time order.
    while (nextAudio < sender.packets || nextVideo < Infinity) {
      const audioAt = (nextAudio + 1) * packetMs;
      const sendAt = Math.min(nextAudio < sender.packets ? audioAt : Infinity, nextVideo);
      if (sendAt > at) break;
      if (sendAt === audioAt && nextAudio < sender.packets) {
        send(sender.audioBytes, nextAudio++);
      } else {
        if (queuedBytes < VIDEO.backedUpBytes) {
          send(sender.jpegBytes, -1);
          videoInterval = Math.max(VIDEO.baseMs, videoInterval * 0.8);
        } else {
          videoInterval = Math.min(VIDEO.maxMs, videoInterval * 2);
        }
        nextVideo = nextAudio < sender.packets ? nextVideo + videoInterval : Infinity;
      }
    }
    // The link drains up to one MTU now; an unused opportunity is lost.
    let budget = 1500;
    while (budget > 0 && head < queue.length) {
      const take = Math.min(budget, remaining);
      remaining -= take;
      budget -= take;
      queuedBytes -= take;
      if (remaining > 0) break;
      const { packet } = queue[head];
      if (packet >= 0) arrivals.push({ packet, atMs: at + sender.baseLatencyMs });
      if (++head < queue.length) remaining = queue[head].bytes;
    }
    if (++index === opportunities.length) {
      index = 0;
      loopMs += lengthMs;
    }
  }
  return arrivals;
}
