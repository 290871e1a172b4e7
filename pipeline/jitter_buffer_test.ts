import { correlation, loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import assert from "node:assert/strict";
import { JitterStage } from "./jitter_stage.ts";
import {
  type ClosedTurn,
  JitterBuffer,
  type JitterBufferOptions,
  type JitterStats,
} from "./jitter_buffer.ts";
import { joinOpusPackets, OpusFrames } from "./opus_packet.ts";
import { OpusDecodeStage } from "./opus_decode_stage.ts";
import { chainStages, type FrameStage, stageStream } from "./frame_stage.ts";
import { OpusDecoder } from "./opus_codec.ts";
import type { IngressFrame, PcmFrame } from "./ingress_frames.ts";
import { parseRtpPacket, type RtpPacket } from "./rtp_packet.ts";
import { decodeAsEdge, speechPackets } from "../tests/support/protocol_client.ts";
import {
  type Arrival,
  arrivalTrace,
  type NetworkProfile,
} from "../tests/support/arrival_traces.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const fixture = speechFixture();

/**
 * `frames` 20 ms packets of the speech fixture, looped, and their in-order decode (the SDK's
 * empty frames of silence are silence, not decoded).
 */
function speech(frames: number, firstSequence = 1000, ssrc = 0x1234) {
  const pcm = loopSamples(fixture, frames * SAMPLES_PER_FRAME);
  const packets = speechPackets(pcm, firstSequence, ssrc).map(parseRtpPacket);
  const decoder = new OpusDecoder();
  const reference = packets.map((p) => decodeAsEdge(decoder, p.payload));
  decoder.close();
  return { packets, reference };
}

interface Replay {
  /** PCM frames in output order, each with the index of the turn that carried it. */
  frames: (PcmFrame & { turn: number })[];
  /** Indices of closed micro-turns, in order. */
  turns: number[];
  stats: JitterStats;
  /** Acknowledged sequence number seen at each arrival. */
  acks: number[];
}

/** Copies each frame's samples: the decoder reuses its buffer, and the test keeps them. */
const KEEP_SAMPLES: FrameStage<IngressFrame, IngressFrame> = {
  transform: (frame, emit) =>
    emit(frame.type === "pcm" ? { ...frame, samples: frame.samples.slice() } : frame),
};

/**
 * Replays arrivals of `packets` through the jitter buffer and Opus decoder, with a clock tick
 * every 10 ms until `endMs`, then ends the stream.
 */
async function replay(
  events: { packet: RtpPacket; atMs: number }[],
  endMs: number,
  options: JitterBufferOptions = {},
): Promise<Replay> {
  const jitter = new JitterStage(0, options);
  const { writable, readable: output } = stageStream(
    chainStages(jitter, new OpusDecodeStage(), KEEP_SAMPLES),
  );
  const result: Replay = { frames: [], turns: [], stats: jitter.buffer.stats, acks: [] };
  const pending: PcmFrame[] = [];
  const collected = output.pipeTo(
    new WritableStream<IngressFrame>({
      write(frame) {
        if (frame.type === "pcm") pending.push(frame);
        if (frame.type === "turn_end") {
          result.turns.push(frame.index);
          for (const pcm of pending.splice(0)) result.frames.push({ ...pcm, turn: frame.index });
        }
      },
    }),
  );
  const writer = writable.getWriter();
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs);
  let next = 0;
  for (let now = 0; now <= endMs; now += 10) {
    while (next < sorted.length && sorted[next].atMs <= now) {
      const { packet, atMs } = sorted[next++];
      await writer.write({ type: "rtp", packet, arrivalMs: atMs });
      result.acks.push(jitter.buffer.acknowledgedSequence ?? -1);
    }
    await writer.write({ type: "tick", nowMs: now });
  }
  await writer.close();
  await collected;
  result.stats = jitter.buffer.stats;
  return result;
}

function eventsOf(packets: RtpPacket[], arrivals: Arrival[]) {
  return arrivals.map((a) => ({ packet: packets[a.packet], atMs: a.atMs }));
}

/**
 * The user's audio is all there once: every sent packet in `expected` was decoded exactly
 * once (on time or late), nothing else was, and the decoded samples match the reference.
 */
function assertEveryFrameOnce(
  result: Replay,
  reference: Int16Array[],
  expected: number[],
  firstFrame: number,
) {
  const decoded = result.frames.filter((f) => f.origin === "decoded");
  const seen = new Map<number, PcmFrame>();
  for (const frame of decoded) {
    const packet = frame.frameIndex - firstFrame;
    assert.ok(!seen.has(packet), `packet ${packet} delivered twice`);
    seen.set(packet, frame);
  }
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), expected);
  const samples = decoded.reduce((sum, f) => sum + f.samples.length, 0);
  assert.equal(samples, expected.length * SAMPLES_PER_FRAME);
  // Content: the delivered audio, in media order, is the sender's audio.
  const got: number[] = [];
  const want: number[] = [];
  for (const packet of expected) {
    got.push(...seen.get(packet)!.samples);
    want.push(...reference[packet]);
  }
  assert.ok(correlation(got, want) > 0.9, `correlation ${correlation(got, want)}`);
}

function assertContiguousTurns(result: Replay) {
  result.turns.forEach((index, i) => assert.equal(index, i));
}

/** Late frames ride with a later micro-turn than their own, flagged; on-time ones with theirs. */
function assertLateFlagged(result: Replay) {
  for (const frame of result.frames) {
    const own = Math.floor(frame.frameIndex / FRAMES_PER_MICRO_TURN);
    if (frame.late) assert.ok(frame.turn > own, `late frame ${frame.frameIndex} in turn ${own}`);
    else assert.equal(frame.turn, own);
  }
}

const steady = (name: string, overrides: Partial<NetworkProfile> = {}): NetworkProfile => ({
  name,
  baseLatencyMs: 40,
  jitter: { walkMs: 10, noiseMs: 10, spikeRate: 0, spikeMs: [0, 0] },
  senderLoss: 0,
  stalls: [],
  clockRate: 1,
  ...overrides,
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("reordered and duplicated packets are delivered once; sender gaps are concealed", async () => {
  const { packets, reference } = speech(300);
  const dropped = new Set([50, 51, 52, 200]);
  const arrivals = arrivalTrace(steady("steady"), 300, 1).filter((a) => !dropped.has(a.packet));
  // Swap neighbours every 7th packet (a replayed burst can do this) and repeat every 11th.
  for (let i = 5; i + 1 < arrivals.length; i += 7) {
    [arrivals[i].packet, arrivals[i + 1].packet] = [arrivals[i + 1].packet, arrivals[i].packet];
  }
  const duplicates = arrivals.filter((_, i) => i % 11 === 0).map((a) => ({
    packet: a.packet,
    atMs: a.atMs + 30,
  }));
  const result = await replay(eventsOf(packets, [...arrivals, ...duplicates]), 6600);
  const expected = range(300).filter((i) => !dropped.has(i));
  const first = result.frames.find((f) => f.origin === "decoded")!.frameIndex;
  assertEveryFrameOnce(result, reference, expected, first);
  assertContiguousTurns(result);
  assertLateFlagged(result);
  assert.equal(result.stats.duplicates, duplicates.length);
  for (const packet of dropped) {
    const filled = result.frames.find((f) => f.frameIndex === first + packet)!;
    assert.ok(filled.origin === "concealed" || filled.origin === "fec", filled.origin);
  }
});

Deno.test("a 1.5 s stall then a burst: input-missing audio, then every frame delivered late, bounded per micro-turn", async () => {
  const { packets, reference } = speech(250);
  const profile = steady("stall", { stalls: [[2000, 1500]] });
  const arrivals = arrivalTrace(profile, 250, 2);
  const result = await replay(eventsOf(packets, arrivals), 6000, { maxLateFramesPerTurn: 50 });
  const first = result.frames.find((f) => f.origin === "decoded")!.frameIndex;
  assertEveryFrameOnce(result, reference, range(250), first);
  assertContiguousTurns(result);
  assertLateFlagged(result);
  const late = result.frames.filter((f) => f.late);
  assert.ok(late.length >= 60, `only ${late.length} late frames`);
  assert.ok(result.stats.missingFrames >= 40, `only ${result.stats.missingFrames} missing`);
  // The catch-up is spread over micro-turns, never more than the bound in one.
  const perTurn = new Map<number, number>();
  for (const frame of late) perTurn.set(frame.turn, (perTurn.get(frame.turn) ?? 0) + 1);
  assert.ok(perTurn.size >= 2);
  for (const count of perTurn.values()) assert.ok(count <= 50);
  // The stall did not leave the buffer waiting longer afterwards.
  assert.ok(result.stats.targetDelayMs < 150, `target ${result.stats.targetDelayMs} ms`);
});

for (const clockRate of [1.01, 0.99]) {
  Deno.test(`sender clock ${clockRate > 1 ? "1 % fast" : "1 % slow"}: nothing lost or late-flagged wrongly, delay stays bounded`, async () => {
    const frames = 3000; // 60 s
    const { packets, reference } = speech(frames);
    const arrivals = arrivalTrace(steady("drift", { clockRate }), frames, 3);
    const result = await replay(eventsOf(packets, arrivals), frames * 20 / clockRate + 1000);
    const first = result.frames.find((f) => f.origin === "decoded")!.frameIndex;
    assertEveryFrameOnce(result, reference, range(frames), first);
    assertContiguousTurns(result);
    assertLateFlagged(result);
    assert.ok(result.stats.lateFrames / frames < 0.02, `late ${result.stats.lateFrames}`);
    assert.ok(result.stats.targetDelayMs < 100, `target ${result.stats.targetDelayMs} ms`);
  });
}

Deno.test("a reconnect mid-utterance: the client replays from its last acknowledgement, nothing is lost or doubled", async () => {
  const { packets, reference } = speech(250);
  const arrivals = arrivalTrace(steady("reconnect"), 250, 4);
  // The connection dies at 2.0 s: what was in flight is lost. The client last heard an
  // acknowledgement at 1.8 s; it reconnects at 3.0 s, replays everything after that
  // acknowledgement at once, then goes on live.
  const before = arrivals.filter((a) => a.atMs < 2000);
  const lastAckAt = before.findLast((a) => a.atMs < 1800)!;
  const probe = await replay(eventsOf(packets, before), 1800);
  const acked = probe.acks[before.indexOf(lastAckAt)];
  const firstUnacked = ((acked - packets[0].sequenceNumber + 0x10000) & 0xffff) + 1;
  const replayed = range(250).slice(firstUnacked).filter((i) => (i + 1) * 20 < 3000)
    .map((packet) => ({ packet, atMs: 3000 }));
  const after = arrivals.filter((a) => a.atMs >= 3000 && (a.packet + 1) * 20 >= 3000);
  const result = await replay(eventsOf(packets, [...before, ...replayed, ...after]), 6000);
  const first = result.frames.find((f) => f.origin === "decoded")!.frameIndex;
  assertEveryFrameOnce(result, reference, range(250), first);
  assertContiguousTurns(result);
  assertLateFlagged(result);
  assert.ok(result.stats.duplicates > 0, "the replay overlapped what had arrived");
});

Deno.test("a sender restart (new SSRC, new numbering) continues the media timeline", async () => {
  const a = speech(100, 1000, 0x1111);
  const b = speech(100, 40_000, 0x2222);
  const events = [
    ...eventsOf(a.packets, arrivalTrace(steady("a"), 100, 5)),
    ...eventsOf(b.packets, arrivalTrace(steady("b"), 100, 6, 2500)),
  ];
  const result = await replay(events, 5000);
  assertContiguousTurns(result);
  assertLateFlagged(result);
  assert.equal(result.stats.restarts, 1);
  const decoded = result.frames.filter((f) => f.origin === "decoded");
  assert.equal(decoded.length, 200);
  assert.equal(new Set(decoded.map((f) => f.frameIndex)).size, 200);
});

Deno.test("fuzzed packets (huge jumps, random SSRCs, garbage payloads) never break the stream", async () => {
  const random = seededRandom(7);
  const { packets } = speech(50);
  const events: { packet: RtpPacket; atMs: number }[] = [];
  for (let i = 0; i < 2000; i++) {
    const base = packets[i % packets.length];
    const kind = random();
    const packet: RtpPacket = {
      ...base,
      sequenceNumber: kind < 0.2 ? Math.floor(random() * 0x10000) : base.sequenceNumber,
      timestamp: kind < 0.4 ? Math.floor(random() * 2 ** 32) : base.timestamp,
      ssrc: kind > 0.97 ? Math.floor(random() * 4) : base.ssrc,
      payload: kind > 0.9
        ? Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256))
        : base.payload,
    };
    events.push({ packet, atMs: i * 5 });
  }
  const result = await replay(events, 12_000, { maxAheadMs: 10_000 });
  assertContiguousTurns(result);
  assert.ok(result.turns.length >= 50);
  for (const frame of result.frames) assert.equal(frame.samples.length, SAMPLES_PER_FRAME);
});

Deno.test("held payloads come out intact however far ahead and out of order they arrived", () => {
  // 300 frames (6 s) of distinct payloads of every size up to 400 bytes (past a ring slot),
  // sent in reverse within 2.6 s blocks: many held far past the ring, all with reused slots.
  const frames = 300;
  // Each a one-frame Opus packet (a CELT 20 ms TOC byte, code 0), so it is one slot.
  const payloadOf = (frame: number) =>
    Uint8Array.from(
      { length: 1 + (frame * 37) % 400 },
      (_, i) => i ? (frame * 7 + i) & 0xff : 0xf8,
    );
  const packetOf = (frame: number): RtpPacket => ({
    payloadType: 111,
    sequenceNumber: 1000 + frame,
    timestamp: 960 * frame,
    ssrc: 0x1234,
    marker: false,
    payload: payloadOf(frame),
  });
  const buffer = new JitterStage(0).buffer;
  const released = new Map<number, Uint8Array>();
  const take = (turns: ReturnType<typeof buffer.poll>) => {
    for (const turn of turns) {
      for (const slot of turn.slots) {
        if (slot.payload) released.set(slot.frame, slot.payload.slice());
      }
    }
  };
  buffer.insert(packetOf(0), 0); // anchors frame 0 at the open frame
  for (let block = 1; block < frames; block += 130) {
    for (let frame = Math.min(frames, block + 130) - 1; frame >= block; frame--) {
      buffer.insert(packetOf(frame), 1);
    }
    take(buffer.poll(2)); // closes every micro-turn the block completed
  }
  take(buffer.flush(3));
  assert.equal(released.size, frames);
  for (let frame = 0; frame < frames; frame++) {
    assert.deepEqual(released.get(frame), payloadOf(frame), `frame ${frame}`);
  }
});

/**
 * `packets` (20 ms each) joined into longer ones, `sizes` frames each in turn (the last size
 * repeats), numbered on from the first's sequence number.
 */
function joinedPackets(packets: RtpPacket[], sizes: number[]): RtpPacket[] {
  const joined: RtpPacket[] = [];
  for (let at = 0, i = 0; at < packets.length; i++) {
    const group = packets.slice(at, at + sizes[Math.min(i, sizes.length - 1)]);
    joined.push({
      ...group[0],
      sequenceNumber: (packets[0].sequenceNumber + i) & 0xffff,
      payload: joinOpusPackets(group.map((p) => p.payload)),
    });
    at += group.length;
  }
  return joined;
}

/** Frames of a packet of `joined`: its RTP timestamp's frame and its Opus frame count. */
function framesOf(packet: RtpPacket): { first: number; last: number } {
  const first = Math.round(packet.timestamp / RTP_TICKS_PER_FRAME);
  return { first, last: first + new OpusFrames().read(packet.payload).count - 1 };
}

/** Inserts each packet at the end of its audio plus `delayMs` (unless `arrivalOf` says), polling. */
function deliver(
  buffer: JitterBuffer,
  packets: RtpPacket[],
  delayMs: number,
  arrivalOf: (packet: RtpPacket, atMs: number) => number = (_, atMs) => atMs,
) {
  const events = packets.map((packet) => ({
    packet,
    atMs: arrivalOf(packet, (framesOf(packet).last + 1) * AUDIO_FRAME_MS + delayMs),
  })).sort((a, b) => a.atMs - b.atMs);
  const turns: ClosedTurn[] = [];
  const outcomes: string[] = [];
  for (const { packet, atMs } of events) {
    turns.push(...buffer.poll(atMs));
    outcomes.push(buffer.insert(packet, atMs));
    turns.push(...buffer.poll(atMs));
  }
  turns.push(...buffer.flush(events.at(-1)!.atMs));
  return { turns, outcomes };
}

Deno.test("100 ms packets are cut into 20 ms slots: the same audio, each micro-turn closed by its last packet", async () => {
  const { packets, reference } = speech(100);
  const joined = joinedPackets(packets, [5]);
  assert.equal(joined.length, 20);
  const buffer = new JitterBuffer(0);
  const { turns, outcomes } = deliver(buffer, joined, 30);
  assert.deepEqual(new Set(outcomes), new Set(["held"]));
  for (const turn of turns.slice(0, 10)) {
    // Closed the moment the packet holding its last 100 ms came: not at a deadline.
    assert.equal(turn.complete, true);
    assert.equal(turn.closedAtMs, (turn.index + 1) * 200 + 30);
    assert.ok(turn.slots.every((slot) => slot.payload));
  }
  assert.equal(buffer.stats.received, 20);
  assert.equal(buffer.stats.concealedFrames, 0);
  // Decoded, the slots are the sender's audio, frame for frame.
  const events = joined.map((packet) => ({
    packet,
    atMs: (framesOf(packet).last + 1) * AUDIO_FRAME_MS + 30,
  }));
  const result = await replay(events, 2_400);
  assertEveryFrameOnce(result, reference, range(100), 0);
  assertLateFlagged(result);
  const decoder = new OpusDecoder();
  for (const frame of result.frames.slice(0, 100)) {
    assert.deepEqual(frame.samples, decodeAsEdge(decoder, packets[frame.frameIndex].payload));
  }
  decoder.close();
});

Deno.test("packets that straddle micro-turn boundaries are waited for, not concealed", () => {
  const { packets } = speech(100);
  // 60 ms first, then 100 ms: every other packet carries the end of one micro-turn and the
  // start of the next, and leaves 60 ms after the micro-turn's end.
  const joined = joinedPackets(packets, [3, 5]);
  const buffer = new JitterBuffer(0);
  const { turns } = deliver(buffer, joined, 30);
  assert.equal(buffer.stats.concealedFrames, 0);
  assert.equal(buffer.stats.lateFrames, 0);
  for (const turn of turns.slice(1, 9)) {
    assert.equal(turn.complete, true, `micro-turn ${turn.index}`);
    assert.equal(turn.closedAtMs, (turn.index + 1) * 200 + 60 + 30);
  }
});

Deno.test("a long packet that comes after its micro-turn closed is delivered late, slot by slot", () => {
  const { packets } = speech(60);
  const joined = joinedPackets(packets, [3, 5]); // frames 0-2, 3-7, 8-12, 13-17, ...
  const buffer = new JitterBuffer(0);
  // Frames 8-12 come 150 ms late: 8 and 9 belong to micro-turn 0, closed at its deadline by
  // then; 10-12 to micro-turn 1, still open.
  const { turns, outcomes } = deliver(
    buffer,
    joined,
    30,
    (packet, atMs) => framesOf(packet).first === 8 ? atMs + 150 : atMs,
  );
  assert.equal(outcomes.filter((outcome) => outcome === "late").length, 1);
  const late = turns.flatMap((turn) => turn.late.map((frame) => frame.frame));
  assert.deepEqual(late, [8, 9]);
  assert.equal(buffer.stats.lateFrames, 2);
  const second = turns.find((turn) => turn.index === 1)!;
  assert.deepEqual(second.slots.slice(0, 3).map((slot) => slot.fill), [
    undefined,
    undefined,
    undefined,
  ]);
  // A late slot is one frame of its own, cut from the packet.
  const [eight] = turns.flatMap((turn) => turn.late);
  assert.deepEqual(eight.payload, packets[8].payload);
  // The same packet again is a duplicate: nothing is delivered twice.
  assert.equal(buffer.insert(joined[2], 5000), "duplicate");
  assert.equal(buffer.stats.duplicates, 5);
});

Deno.test("linear PCM packets of 100 ms are cut into 640-byte slots", () => {
  const buffer = new JitterBuffer(0, { codec: "l16" });
  const pcm = Uint8Array.from({ length: 2 * 3200 * 2 }, (_, i) => i & 0xff);
  for (let i = 0; i < 2; i++) {
    const payload = pcm.subarray(i * 3200, (i + 1) * 3200);
    const packet = { ...speech(1).packets[0], sequenceNumber: i, timestamp: i * 4800, payload };
    buffer.insert(packet, (i + 1) * 100);
  }
  const [turn] = buffer.poll(200);
  assert.equal(turn.complete, true);
  turn.slots.forEach((slot, i) => {
    assert.deepEqual(slot.payload, pcm.subarray(i * 640, (i + 1) * 640), `slot ${i}`);
  });
});
