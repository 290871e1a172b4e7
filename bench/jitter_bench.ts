/**
 * Jitter buffer against an oracle on arrival traces of four synthetic network profiles (good
 * wifi, 4G, congested 3G with bursty sender loss, a mobile handover with stalls), two that
 * change mid-call (3G then wifi, wifi then 3G), and six recorded cellular uplinks, each with
 * audio alone and with the camera on the same socket (bench/cellular_uplink.ts), each with 20 ms
 * packets (WebRTC's) and with the SDK's 100 ms packets (five frames, sent as the last is
 * captured; on the real uplinks they carry the same speech in fewer bytes). Writes
 * bench/results/jitter.json.
 *
 * Both sides close micro-turn k at the earlier of "its audio is complete" and a deadline:
 * - ours: the {@linkcode JitterBuffer} as the edge runs it (completion known from sequence
 *   numbers, adaptive deadline);
 * - the oracle: knows the whole trace, so it knows exactly when a micro-turn's last packet
 *   that will ever come has come, and uses the smallest fixed delay D after the micro-turn's
 *   ideal arrival that reaches our late-frame rate on the same trace.
 * Added delay of a micro-turn = its close time minus the earliest its last frame could have
 * arrived (sender clock + the trace's minimum network latency). Printed per profile: our
 * mean added delay, the oracle's, their ratio, late-frame and concealment rates.
 *
 *   deno task bench:jitter [--seconds=120] [--seeds=20] [--out=jitter.json] [--quantile=Q]
 *     [--forget-factor=F] [--base-window-ms=MS] [--base-rise-ms-per-s=R] [--max-delay-ms=MS]
 *     [--spike-threshold-ms=MS] [--spike-max-ms=MS]
 *
 * @module
 */
import { flag, numberFlag, writeResult } from "./bench_support.ts";
import { JitterBuffer } from "../pipeline/jitter_buffer.ts";
import type { RtpPacket } from "../pipeline/rtp_packet.ts";
import {
  type Arrival,
  arrivalTrace,
  NETWORK_PROFILES,
  type NetworkProfile,
} from "../tests/support/arrival_traces.ts";
import { liveStartMs, readUplinkTrace, uplinkArrivals } from "./cellular_uplink.ts";
import { joinOpusPackets } from "../pipeline/opus_packet.ts";
import {
  AUDIO_FRAME_MS,
  AUDIO_PACKET_MS,
  FRAMES_PER_MICRO_TURN,
  MICRO_TURN_MS,
  OPUS_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
} from "../protocol/media_format.ts";

const seconds = numberFlag("seconds", 120);
/** The number given as `--name=value`, or undefined (the estimator's default). */
const optionalNumber = (name: string) => flag(name) === undefined ? undefined : Number(flag(name));
/** Estimator settings other than the defaults, to try them (ArrivalDelayOptions, as flags). */
const estimatorOptions = {
  forgetFactor: optionalNumber("forget-factor"),
  baseWindowMs: optionalNumber("base-window-ms"),
  quantile: optionalNumber("quantile"),
  baseRiseMsPerS: optionalNumber("base-rise-ms-per-s"),
  maxDelayMs: optionalNumber("max-delay-ms"),
  spikeThresholdMs: optionalNumber("spike-threshold-ms"),
  spikeMaxMs: optionalNumber("spike-max-ms"),
};
const out = flag("out") ?? "jitter.json";
/**
 * Calls a profile is replayed for: seeds of a synthetic one, start points spread over a
 * recording. Twenty, because a recording's worst stretch (a 16 s outage on EV-DO) decides the
 * mean, and five start points can miss it.
 */
const seeds = numberFlag("seeds", 20);
const packets = (seconds * 1000) / AUDIO_FRAME_MS;
/** One 20 ms Opus frame (CELT, a TOC byte and two bytes). */
const FRAME = new Uint8Array([0xf8, 0xff, 0xfe]);
/** Packetizations replayed, as 20 ms frames a packet: WebRTC's 20 ms and the SDK's 100 ms. */
const FRAMES_PER_PACKET = [1, AUDIO_PACKET_MS / AUDIO_FRAME_MS];
/** Bytes on the wire of an audio packet: 60 a 20 ms frame at 24 kbit/s, 50 of RTP, WebSocket, TCP and IP. */
const audioBytes = (framesPerPacket: number) => 60 * framesPerPacket + 50;

interface Outcome {
  addedDelayMs: number;
  lateRate: number;
  concealedRate: number;
}

/** The Opus payload of a packet of `frames` frames, by `frames` (made once, not a packet). */
const payloads = new Map(
  FRAMES_PER_PACKET.map((n) => [n, joinOpusPackets(Array(n).fill(FRAME))]),
);

/** Packet `i` of `frames` 20 ms frames. */
const packetOf = (i: number, frames: number): RtpPacket => ({
  marker: i === 0,
  payloadType: OPUS_PAYLOAD_TYPE,
  sequenceNumber: (1000 + i) & 0xffff,
  timestamp: (i * frames * RTP_TICKS_PER_FRAME) >>> 0,
  ssrc: 0x1234,
  payload: payloads.get(frames)!,
});

/** Ideal arrival of micro-turn k's last frame: media end plus the trace's minimum latency. */
function idealBase(trace: Arrival[], first: number, frames: number): number {
  return Math.min(...trace.map((a) => a.atMs - (a.packet - first + 1) * frames * AUDIO_FRAME_MS));
}

function turnsOf(trace: Arrival[], first: number, frames: number): number {
  return Math.ceil(((trace.at(-1)!.packet - first + 1) * frames) / FRAMES_PER_MICRO_TURN);
}

/**
 * Runs the edge's jitter buffer over `trace` (packets of `frames` frames), closing at deadlines
 * as the edge's timer does.
 */
function ours(trace: Arrival[], frames: number): Outcome {
  const first = trace[0].packet;
  const base = idealBase(trace, first, frames);
  const turns = turnsOf(trace, first, frames);
  const buffer = new JitterBuffer(trace[0].atMs - 60, estimatorOptions);
  const closedAt: number[] = [];
  const record = (now: number) => {
    for (const turn of buffer.poll(now)) closedAt[turn.index] = turn.closedAtMs;
  };
  let next = 0;
  while (closedAt.length < turns) {
    const deadline = buffer.nextDeadlineMs();
    if (next < trace.length && trace[next].atMs <= deadline) {
      const arrival = trace[next++];
      buffer.insert(packetOf(arrival.packet, frames), arrival.atMs);
      record(arrival.atMs);
    } else {
      record(deadline);
    }
  }
  const stats = buffer.stats;
  let added = 0;
  for (let k = 0; k < turns; k++) added += closedAt[k] - (base + (k + 1) * MICRO_TURN_MS);
  return {
    addedDelayMs: added / turns,
    lateRate: (stats.lateFrames + stats.expired) / (trace.length * frames),
    concealedRate: stats.concealedFrames / (turns * FRAMES_PER_MICRO_TURN),
  };
}

/**
 * The oracle with fixed delay `delayMs`: perfect knowledge of completion, fixed deadline. Its
 * packets of `frames` frames divide the micro-turn, so each belongs to one micro-turn.
 */
function oracle(
  trace: Arrival[],
  delayMs: number,
  frames: number,
): Outcome & { lateFrames: number } {
  const first = trace[0].packet;
  const base = idealBase(trace, first, frames);
  const turns = turnsOf(trace, first, frames);
  const turnOf = (a: Arrival) => Math.floor(((a.packet - first) * frames) / FRAMES_PER_MICRO_TURN);
  const lastArrival = new Array<number>(turns).fill(-Infinity);
  for (const a of trace) lastArrival[turnOf(a)] = Math.max(lastArrival[turnOf(a)], a.atMs);
  const closeAt = lastArrival.map((last, k) =>
    Math.min(last, base + (k + 1) * MICRO_TURN_MS + delayMs)
  );
  let lateFrames = 0;
  for (const a of trace) if (a.atMs > closeAt[turnOf(a)]) lateFrames += frames;
  let added = 0;
  closeAt.forEach((at, k) => added += Math.max(0, at - (base + (k + 1) * MICRO_TURN_MS)));
  return {
    addedDelayMs: added / turns,
    lateRate: lateFrames / (trace.length * frames),
    concealedRate: 0,
    lateFrames,
  };
}

/** Smallest fixed delay (1 ms steps) whose late-frame rate is at most `lateRate`. */
function oracleAt(trace: Arrival[], lateRate: number, frames: number) {
  let low = 0;
  let high = 10_000;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (oracle(trace, mid, frames).lateRate <= lateRate) high = mid;
    else low = mid + 1;
  }
  return { fixedDelayMs: low, ...oracle(trace, low, frames) };
}

/**
 * `trace` (20 ms packets) as packets of `frames` frames: each leaves with its last frame, so it
 * arrives when that frame's packet did (the synthetic profiles model delay, not capacity); one
 * whose last frame the sender lost is lost.
 */
function coarsen(trace: Arrival[], frames: number): Arrival[] {
  return trace.filter((a) => a.packet % frames === frames - 1)
    .map((a) => ({ packet: (a.packet - frames + 1) / frames, atMs: a.atMs }));
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** A profile: its name and the arrival trace of each of its runs, packets of `frames` frames. */
interface Profile {
  name: string;
  kind: "synthetic" | "real uplink";
  trace(run: number, frames: number): Arrival[];
}

/**
 * A network that changes mid-call: `before`'s arrivals for the first `switchMs` of media, then
 * `after`'s, in order (one TCP stream).
 */
function switchedTrace(
  before: NetworkProfile,
  after: NetworkProfile,
  switchMs: number,
  seed: number,
) {
  const first = arrivalTrace(before, packets, seed, 0);
  const second = arrivalTrace(after, packets, seed + 1000, 0);
  const switchPacket = switchMs / AUDIO_FRAME_MS;
  let lastAt = -Infinity;
  return [
    ...first.filter((a) => a.packet < switchPacket),
    ...second.filter((a) => a.packet >= switchPacket),
  ].map((a) => {
    lastAt = Math.max(lastAt, a.atMs);
    return { packet: a.packet, atMs: lastAt };
  });
}

const [wifi, , congested3g] = NETWORK_PROFILES;
const synthetic: Profile[] = [
  ...NETWORK_PROFILES.map((profile): Profile => ({
    name: profile.name,
    kind: "synthetic",
    trace: (run, frames) => coarsen(arrivalTrace(profile, packets, 100 + run, 0), frames),
  })),
  // How fast the target follows a network that gets better, and one that gets worse.
  {
    name: "congested 3G for 30 s, then good wifi",
    kind: "synthetic",
    trace: (run, frames) => coarsen(switchedTrace(congested3g, wifi, 30_000, 200 + run), frames),
  },
  {
    name: "good wifi for 30 s, then congested 3G",
    kind: "synthetic",
    trace: (run, frames) => coarsen(switchedTrace(wifi, congested3g, 30_000, 300 + run), frames),
  },
];

/** Real uplinks: calls start at spread-out points of each recording, camera off and on. */
const UPLINKS = [
  ["ATT-LTE-driving", "AT&T LTE, driving"],
  ["TMobile-UMTS-driving", "T-Mobile UMTS, driving"],
  ["Verizon-EVDO-driving", "Verizon EV-DO, driving"],
  ["Verizon-LTE-short", "Verizon LTE"],
  ["ATT-LTE-driving-2016", "AT&T LTE 2016, driving"],
  ["TMobile-LTE-short", "T-Mobile LTE"],
] as const;
const real: Profile[] = [];
for (const [file, name] of UPLINKS) {
  const uplink = await readUplinkTrace(new URL(`./traces/${file}.up.gz`, import.meta.url), name);
  for (const camera of [false, true]) {
    real.push({
      name: `${name} (real trace${camera ? ", camera 1-2 fps on the same socket" : ""})`,
      kind: "real uplink",
      trace: (run, frames) =>
        uplinkArrivals(uplink, {
          packets: packets / frames,
          framesPerPacket: frames,
          startOffsetMs: liveStartMs(uplink, (run * uplink.lengthMs) / seeds),
          baseLatencyMs: 40,
          audioBytes: audioBytes(frames),
          jpegBytes: camera ? 30_000 : 0,
        }),
    });
  }
}

const profiles = FRAMES_PER_PACKET.flatMap((frames) =>
  [...synthetic, ...real].map((profile) => ({ profile, frames }))
).map(({ profile, frames }) => {
  const runs = Array.from({ length: seeds }, (_, run) => {
    const trace = profile.trace(run, frames);
    const mine = ours(trace, frames);
    const best = oracleAt(trace, mine.lateRate, frames);
    return { mine, best };
  });
  const mean = (f: (r: typeof runs[number]) => number) =>
    runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const added = mean((r) => r.mine.addedDelayMs);
  const oracleDelay = mean((r) => r.best.addedDelayMs);
  return {
    name: profile.name,
    kind: profile.kind,
    packet_ms: frames * AUDIO_FRAME_MS,
    added_delay_ms: round(added),
    oracle_delay_ms: round(oracleDelay),
    ratio: round(added / Math.max(oracleDelay, 1e-9), 3),
    late_rate: round(mean((r) => r.mine.lateRate), 5),
    concealed_rate: round(mean((r) => r.mine.concealedRate), 5),
    oracle_fixed_delay_ms: round(mean((r) => r.best.fixedDelayMs), 1),
    traces: seeds,
    trace_seconds: seconds,
  };
});

/** The worst ratio to the oracle by packet length (the target is <= 1.15 on every profile). */
const worstRatio = Object.fromEntries(
  FRAMES_PER_PACKET.map((frames) => [
    `${frames * AUDIO_FRAME_MS}_ms`,
    Math.max(
      ...profiles.filter((p) => p.packet_ms === frames * AUDIO_FRAME_MS).map((p) => p.ratio),
    ),
  ]),
);
const result = { worst_ratio: worstRatio, target_ratio: 1.15, profiles };
console.table(profiles.map(({ traces: _t, trace_seconds: _s, kind: _k, ...row }) => row));
await writeResult(out, { ...result, estimator: estimatorOptions });
