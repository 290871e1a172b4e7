/**
 * Arrival traces: when each 20 ms packet of a sender reaches the edge. Over a WebSocket (TCP)
 * packets arrive in order, so a late packet holds back every packet behind it; traces model
 * that head-of-line blocking. Used by the jitter-buffer tests and `deno task bench:jitter`.
 *
 * @module
 */
import { seededRandom } from "../../lib/seeded_random.ts";
import { AUDIO_FRAME_MS } from "../../protocol/media_format.ts";

/** One packet's arrival: which packet (its index in the sender's stream) and when. */
export interface Arrival {
  /** Index of the packet in the sender's stream (sequence and timestamp follow from it). */
  packet: number;
  /** Wall time of arrival at the edge, ms. */
  atMs: number;
}

/** Shape of one network profile. */
export interface NetworkProfile {
  /** Name printed by the benchmark. */
  name: string;
  /** One-way base latency, ms. */
  baseLatencyMs: number;
  /** Jitter added to each packet: a slow random walk plus independent noise, ms. */
  jitter: { walkMs: number; noiseMs: number; spikeRate: number; spikeMs: [number, number] };
  /** Fraction of packets the sender drops (bursty: a loss makes the next one likelier). */
  senderLoss: number;
  /** Stalls: [start, duration] ms of media time during which nothing is delivered. */
  stalls: [number, number][];
  /** Sender clock rate relative to the edge's (1.01 = 1 % fast). */
  clockRate: number;
}

/**
 * Builds the arrival trace of `packets` packets sent every 20 ms (of the sender's clock)
 * from wall time `startMs`, through `profile`, reproducibly from `seed`.
 */
export function arrivalTrace(
  profile: NetworkProfile,
  packets: number,
  seed: number,
  startMs = 0,
): Arrival[] {
  const random = seededRandom(seed);
  const arrivals: Arrival[] = [];
  let walk = 0;
  let lastAt = -Infinity;
  let lostPrevious = false;
  let spikeLeft = 0;
  let spikeMs = 0;
  for (let i = 0; i < packets; i++) {
    const sentAt = startMs + ((i + 1) * AUDIO_FRAME_MS) / profile.clockRate;
    const lossChance: number = lostPrevious
      ? Math.min(0.5, profile.senderLoss * 25)
      : profile.senderLoss;
    lostPrevious = random() < lossChance;
    walk = Math.max(0, walk + (random() - 0.5) * profile.jitter.walkMs * 0.2);
    walk = Math.min(walk, profile.jitter.walkMs);
    if (spikeLeft <= 0 && random() < profile.jitter.spikeRate) {
      const [low, high] = profile.jitter.spikeMs;
      spikeMs = low + random() * (high - low);
      spikeLeft = Math.ceil(spikeMs / AUDIO_FRAME_MS);
    }
    const spike = spikeLeft > 0 ? spikeMs * (spikeLeft-- / Math.ceil(spikeMs / AUDIO_FRAME_MS)) : 0;
    let at = sentAt + profile.baseLatencyMs + walk + random() * profile.jitter.noiseMs + spike;
    for (const [start, duration] of profile.stalls) {
      const relative = at - startMs;
      if (relative >= start && relative < start + duration) at = startMs + start + duration;
    }
    at = Math.max(at, lastAt);
    lastAt = at;
    if (!lostPrevious) arrivals.push({ packet: i, atMs: at });
  }
  return arrivals;
}

/** The benchmark's profiles: good wifi, 4G, congested 3G, a mobile handover. */
export const NETWORK_PROFILES: NetworkProfile[] = [
  {
    name: "good wifi",
    baseLatencyMs: 8,
    jitter: { walkMs: 2, noiseMs: 4, spikeRate: 0.002, spikeMs: [20, 40] },
    senderLoss: 0,
    stalls: [],
    clockRate: 1,
  },
  {
    name: "4G (30-60 ms jitter)",
    baseLatencyMs: 40,
    jitter: { walkMs: 30, noiseMs: 30, spikeRate: 0.004, spikeMs: [40, 80] },
    senderLoss: 0.001,
    stalls: [],
    clockRate: 1,
  },
  {
    name: "congested 3G (100-300 ms jitter, 1-3 % bursty loss)",
    baseLatencyMs: 120,
    jitter: { walkMs: 150, noiseMs: 100, spikeRate: 0.01, spikeMs: [100, 300] },
    senderLoss: 0.01,
    stalls: [],
    clockRate: 1,
  },
  {
    name: "mobile handover (1-2 s stall)",
    baseLatencyMs: 40,
    jitter: { walkMs: 15, noiseMs: 20, spikeRate: 0.002, spikeMs: [40, 80] },
    senderLoss: 0.001,
    stalls: [[20_000, 1500], [45_000, 1200]],
    clockRate: 1,
  },
];
