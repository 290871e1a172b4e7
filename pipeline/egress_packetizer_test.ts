import assert from "node:assert/strict";
import { EgressPacketizer } from "./egress_packetizer.ts";
import { parseRtpPacket } from "./rtp_packet.ts";
import { OpusDecoder, OpusEncoder } from "./opus_codec.ts";
import { OpusFrames } from "./opus_packet.ts";
import {
  FRAMES_PER_MICRO_TURN,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";

/** 200 ms of a voiced sound (a 150 Hz tone with harmonics), loud in every 20 ms frame. */
const speech = Int16Array.from(
  { length: SAMPLES_PER_MICRO_TURN },
  (_, i) =>
    [1, 2, 3, 4].reduce(
      (sum, h) => sum + (4000 / h) * Math.sin((2 * Math.PI * 150 * h * i) / 16_000),
      0,
    ),
);

Deno.test("silence is not encoded: a silent micro-turn sends nothing, the clock moves on, the next talkspurt is marked", () => {
  const packetizer = new EgressPacketizer(() => 0.5);
  const first = packetizer.packetize(speech).map(parseRtpPacket);
  assert.equal(first.length, 10);
  assert.deepEqual(first.map((p) => p.marker), [true, ...Array(9).fill(false)]);

  // The model chose silence: its audio (here speech, which the model did not mean) is not sent.
  assert.deepEqual(packetizer.packetize(speech, true), []);
  // Output under the floor (-60 dBFS) is silence too, whatever the control head said.
  assert.deepEqual(packetizer.packetize(new Int16Array(SAMPLES_PER_MICRO_TURN).fill(20)), []);
  assert.equal(packetizer.silentFrames, 20);

  const next = packetizer.packetize(speech).map(parseRtpPacket);
  assert.equal(next.length, 10);
  assert.equal(next[0].marker, true, "a talkspurt starts after silence");
  // Sequence numbers count packets sent; timestamps count media time, silence included.
  assert.equal(next[0].sequenceNumber, (first[9].sequenceNumber + 1) & 0xffff);
  assert.equal(next[0].timestamp, (first[9].timestamp + 21 * RTP_TICKS_PER_FRAME) >>> 0);
  const decoder = new OpusDecoder();
  for (const packet of next) assert.equal(decoder.decode(packet.payload).length, 320);
  decoder.close();
  packetizer.close();
});

Deno.test("linear PCM for an adapter is passed whole, silence included", () => {
  const packetizer = new EgressPacketizer(Math.random, "l16");
  assert.equal(packetizer.packetize(new Int16Array(SAMPLES_PER_MICRO_TURN), true).length, 10);
  packetizer.close();
});

Deno.test("a frame's header is fixed when its output arrives and its payload made when it is sent: the packets are the same", () => {
  const now = new EgressPacketizer(() => 0.25);
  const later = new EgressPacketizer(() => 0.25);
  const expected = [
    ...now.packetize(speech),
    ...now.packetize(speech, true),
    ...now.packetize(speech),
  ];
  // Both micro-turns' headers are assigned before any payload is encoded.
  const frames = [...later.frames(speech), ...later.frames(speech, true), ...later.frames(speech)];
  assert.equal(frames.length, 20);
  assert.deepEqual(frames.map((frame) => later.packet([frame])), expected);
  now.close();
  later.close();
});

Deno.test("a micro-turn its worker encoded is framed as it came: empty payloads are silence, left out like encoded silence; owed frames keep their place until their payloads come", () => {
  const fromPcm = new EgressPacketizer(() => 0.75);
  const fromWorker = new EgressPacketizer(() => 0.75);
  const encoder = new OpusEncoder();
  // The worker's encoder sees what the edge's would: the floor and the control head's silence.
  const quiet = new Int16Array(SAMPLES_PER_MICRO_TURN).fill(20);
  const audio = new Int16Array(SAMPLES_PER_MICRO_TURN);
  audio.set(speech.subarray(0, 1600));
  audio.set(quiet.subarray(0, 1600), 1600);
  /** The worker's payloads: frames from `silentFrom` on are silence. */
  const payloads = (pcm: Int16Array, silentFrom: number) =>
    Array.from(
      { length: FRAMES_PER_MICRO_TURN },
      (_, i) =>
        i >= silentFrom
          ? new Uint8Array(0)
          : encoder.encode(pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME)),
    );
  const expected = [
    ...fromPcm.packetize(audio),
    ...fromPcm.packetize(speech, true),
    ...fromPcm.packetize(speech),
  ];
  // The last micro-turn comes as a worker sends it: its first two frames, the rest owed.
  const [first, second, last] = [
    payloads(audio, 5),
    payloads(speech, 0),
    payloads(speech, FRAMES_PER_MICRO_TURN),
  ];
  const framed = [
    ...fromWorker.encodedFrames(first),
    ...fromWorker.encodedFrames(second),
    ...fromWorker.encodedFrames(last.map((payload, i) => i < 2 ? payload : null)),
  ];
  const owed = framed.filter((frame) => frame.owed);
  assert.equal(owed.length, 8);
  assert.equal(fromWorker.packet([owed[0]]), undefined, "no packet before its payload comes");
  owed.forEach((frame, i) => frame.payload = last[i + 2]);
  const sent = framed.map((frame) => fromWorker.packet([frame]));
  // Same headers (sequence, timestamps over the silence, talkspurt markers) and same payloads.
  assert.equal(sent.length, 15);
  assert.deepEqual(sent, expected);
  assert.equal(fromWorker.silentFrames, fromPcm.silentFrames);
  encoder.close();
  fromPcm.close();
  fromWorker.close();
});

Deno.test("consecutive frames go in one packet: encoded here in one call, or the worker's payloads joined", () => {
  const packetizer = new EgressPacketizer(() => 0.5);
  const first = packetizer.frames(speech);
  packetizer.frames(speech, true); // the model's silence
  const second = packetizer.frames(speech);
  // Frames join within one stretch of audio, not across the silence (a talkspurt starts).
  assert.ok(first.slice(1).every((frame, i) => packetizer.joins(first[i], frame)));
  assert.equal(packetizer.joins(first[9], second[0]), false);
  const packets = [first.slice(0, 5), first.slice(5), second.slice(0, 5)].map((frames) =>
    parseRtpPacket(packetizer.packet(frames)!)
  );
  assert.deepEqual(packets.map((p) => p.marker), [true, false, true]);
  assert.equal(packets[1].timestamp, (packets[0].timestamp + 5 * RTP_TICKS_PER_FRAME) >>> 0);
  packetizer.dropped(); // a packet the pacer dropped leaves a gap in the numbering
  const after = parseRtpPacket(packetizer.packet(second.slice(5))!);
  assert.deepEqual(
    [...packets, after].map((p) => (p.sequenceNumber - packets[0].sequenceNumber) & 0xffff),
    [0, 1, 2, 4],
  );
  // 100 ms of Opus in five 20 ms frames, which decode to the loudness that went in.
  const decoder = new OpusDecoder();
  const rms = (samples: Int16Array) =>
    Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
  for (const packet of packets) {
    const frames = new OpusFrames().read(packet.payload);
    assert.equal(frames.count, 5);
    assert.equal(frames.frameTicks, RTP_TICKS_PER_FRAME);
    const decoded = decoder.decode(packet.payload);
    assert.equal(decoded.length, 5 * SAMPLES_PER_FRAME);
    if (packet !== packets[0]) {
      const ratio = rms(decoded) / rms(speech);
      assert.ok(ratio > 0.7 && ratio < 1.3, `loudness ratio ${ratio}`);
    }
  }
  decoder.close();

  // A worker's payloads are joined as they came: cut apart, the packet gives them back.
  const encoder = new OpusEncoder();
  const payloads = Array.from(
    { length: FRAMES_PER_MICRO_TURN },
    (_, i) => encoder.encode(speech.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME)),
  );
  const framed = packetizer.encodedFrames(payloads);
  assert.equal(packetizer.joins(framed[0], framed[1]), true);
  assert.equal(packetizer.joins(second[4], framed[0]), false, "a talkspurt starts");
  const joined = new OpusFrames().read(
    parseRtpPacket(packetizer.packet(framed.slice(2, 7))!).payload,
  );
  assert.deepEqual(
    Array.from({ length: joined.count }, (_, i) => {
      const frame = new Uint8Array(joined.frameLength(i));
      joined.writeFrame(i, frame, 0);
      return frame;
    }),
    payloads.slice(2, 7),
  );
  encoder.close();
  packetizer.close();
});
