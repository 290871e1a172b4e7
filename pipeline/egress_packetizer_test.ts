import assert from "node:assert/strict";
import { EgressPacketizer } from "./egress_packetizer.ts";
import { parseRtpPacket } from "./rtp_packet.ts";
import { OpusDecoder, OpusEncoder } from "./opus_codec.ts";
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
  assert.deepEqual(frames.map((frame) => later.packet(frame)), expected);
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
  assert.equal(fromWorker.packet(owed[0]), undefined, "no packet before its payload comes");
  owed.forEach((frame, i) => frame.payload = last[i + 2]);
  const sent = framed.map((frame) => fromWorker.packet(frame));
  // Same headers (sequence, timestamps over the silence, talkspurt markers) and same payloads.
  assert.equal(sent.length, 15);
  assert.deepEqual(sent, expected);
  assert.equal(fromWorker.silentFrames, fromPcm.silentFrames);
  encoder.close();
  fromPcm.close();
  fromWorker.close();
});
