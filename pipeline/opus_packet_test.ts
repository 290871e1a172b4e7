import assert from "node:assert/strict";
import {
  emptyOpusFrameLike,
  isEmptyOpusPacket,
  joinOpusPackets,
  MalformedOpusPacketError,
  OpusFrames,
  opusFrameTicks,
  OpusJoinError,
} from "./opus_packet.ts";
import { OpusDecoder, OpusEncoder } from "./opus_codec.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** `frames` 20 ms Opus packets of the speech fixture, as the encoder made them. */
function speechFrames(frames: number): Uint8Array[] {
  const pcm = loopSamples(speechFixture(), frames * SAMPLES_PER_FRAME);
  const encoder = new OpusEncoder();
  const packets = [];
  for (let i = 0; i < frames; i++) {
    packets.push(encoder.encode(pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME)));
  }
  encoder.close();
  return packets;
}

/** Every frame of `packet`, each cut out as a packet of its own. */
function cut(packet: Uint8Array): Uint8Array[] {
  const frames = new OpusFrames().read(packet);
  return Array.from({ length: frames.count }, (_, i) => {
    const frame = new Uint8Array(frames.frameLength(i));
    assert.equal(frames.writeFrame(i, frame, 0), frame.length);
    return frame;
  });
}

/** A CELT fullband 20 ms TOC byte (configuration 31), mono, code 0. */
const CELT_20_MS = 31 << 3;

Deno.test("five 20 ms frames joined into one packet cut back into the same five", () => {
  const frames = speechFrames(50);
  for (let i = 0; i < frames.length; i += 5) {
    const group = frames.slice(i, i + 5);
    for (const frame of group) assert.equal(frame[0] & 3, 0, "the encoder makes one-frame packets");
    const joined = joinOpusPackets(group);
    const read = new OpusFrames().read(joined);
    assert.equal(read.count, 5);
    assert.equal(read.frameTicks, 960);
    assert.deepEqual(cut(joined), group);
    // One message instead of five: the joined packet is smaller than the five together.
    assert.ok(joined.length < group.reduce((sum, frame) => sum + frame.length, 0) + 5);
  }
});

Deno.test("a joined packet decodes to the audio of its frames decoded one by one", () => {
  const frames = speechFrames(20);
  const whole = new OpusDecoder();
  const oneByOne = new OpusDecoder();
  for (let i = 0; i < frames.length; i += 5) {
    const group = frames.slice(i, i + 5);
    const joined = whole.decode(joinOpusPackets(group)).slice();
    assert.equal(joined.length, 5 * SAMPLES_PER_FRAME);
    const separate = new Int16Array(5 * SAMPLES_PER_FRAME);
    cut(joinOpusPackets(group)).forEach((frame, j) => {
      separate.set(oneByOne.decode(frame), j * SAMPLES_PER_FRAME);
    });
    assert.deepEqual(joined, separate);
  }
  whole.close();
  oneByOne.close();
});

Deno.test("frames of 252 bytes and more take two-byte lengths and come back whole", () => {
  const sizes = [300, 0, 251, 252, 1275, 7];
  const parts = sizes.map((size, i) => {
    const frame = new Uint8Array(1 + size).fill(i + 1);
    frame[0] = CELT_20_MS;
    return frame;
  });
  const joined = joinOpusPackets(parts);
  const read = new OpusFrames().read(joined);
  assert.equal(read.count, 6);
  assert.deepEqual(cut(joined), parts);
  // An empty last frame (DTX) too.
  const dtx = [parts[0], Uint8Array.of(CELT_20_MS)];
  assert.deepEqual(cut(joinOpusPackets(dtx)), dtx);
});

Deno.test("code 1, code 2 and code 3 CBR with padding are read as RFC 6716 frames them", () => {
  const code1 = Uint8Array.of(CELT_20_MS | 1, 1, 2, 3, 4);
  assert.deepEqual(cut(code1), [Uint8Array.of(CELT_20_MS, 1, 2), Uint8Array.of(CELT_20_MS, 3, 4)]);
  const code2 = Uint8Array.of(CELT_20_MS | 2, 1, 9, 8, 7);
  assert.deepEqual(cut(code2), [Uint8Array.of(CELT_20_MS, 9), Uint8Array.of(CELT_20_MS, 8, 7)]);
  // Three CBR frames of two bytes, 256 bytes of padding (255 then 2: 254 + 2).
  const code3 = new Uint8Array(2 + 2 + 6 + 256);
  code3.set([CELT_20_MS | 3, 0x40 | 3, 255, 2, 1, 1, 2, 2, 3, 3]);
  assert.deepEqual(cut(code3), [1, 2, 3].map((b) => Uint8Array.of(CELT_20_MS, b, b)));
  assert.equal(opusFrameTicks(CELT_20_MS), 960);
  assert.equal(opusFrameTicks(3 << 3), 2880, "SILK 60 ms");
  assert.equal(opusFrameTicks(16 << 3), 120, "CELT 2.5 ms");
});

Deno.test("malformed packets are refused with the rule they break", () => {
  const malformed: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["code 1 of odd length", Uint8Array.of(CELT_20_MS | 1, 1, 2, 3)],
    ["code 2 whose first frame overruns", Uint8Array.of(CELT_20_MS | 2, 9, 1)],
    ["code 2 without a length", Uint8Array.of(CELT_20_MS | 2)],
    ["code 3 without a count", Uint8Array.of(CELT_20_MS | 3)],
    ["code 3 with no frames", Uint8Array.of(CELT_20_MS | 3, 0)],
    ["code 3 of 140 ms", Uint8Array.of(CELT_20_MS | 3, 7, ...new Uint8Array(7))],
    ["code 3 CBR of unequal frames", Uint8Array.of(CELT_20_MS | 3, 2, 1, 2, 3)],
    ["code 3 padding past the end", Uint8Array.of(CELT_20_MS | 3, 0x40 | 1, 9, 1)],
    ["code 3 VBR lengths past the end", Uint8Array.of(CELT_20_MS | 3, 0x80 | 3, 5, 5, 1)],
    ["a frame over 1275 bytes", Uint8Array.of(CELT_20_MS, ...new Uint8Array(1276))],
  ];
  for (const [what, packet] of malformed) {
    assert.throws(() => new OpusFrames().read(packet), MalformedOpusPacketError, what);
  }
});

Deno.test("packets of different configurations, or of more than 120 ms, are not joined", () => {
  const celt = Uint8Array.of(CELT_20_MS, 1);
  const silk = Uint8Array.of(1 << 3, 1);
  assert.throws(() => joinOpusPackets([celt, silk]), OpusJoinError);
  assert.throws(() => joinOpusPackets(Array(7).fill(celt)), OpusJoinError);
  assert.throws(() => joinOpusPackets([]), OpusJoinError);
  assert.equal(new OpusFrames().read(joinOpusPackets(Array(6).fill(celt))).count, 6);
});

Deno.test("empty frames (silence the SDK sends as a TOC byte) join with speech and are told apart", () => {
  const [speech] = speechFrames(1);
  const empty = emptyOpusFrameLike(speech);
  assert.deepEqual(empty, Uint8Array.of(speech[0] & 0xfc));
  assert.ok(isEmptyOpusPacket(empty));
  assert.ok(!isEmptyOpusPacket(speech));
  // 100 ms of silence in one packet: six bytes, cut back into five empty frames.
  const silence = joinOpusPackets(Array(5).fill(empty));
  assert.equal(silence.length, 6);
  assert.ok(cut(silence).every(isEmptyOpusPacket));
  // Speech then silence in one packet: each frame comes back as it went.
  assert.deepEqual(cut(joinOpusPackets([speech, empty, empty])), [speech, empty, empty]);
  // Code 1 of two empty frames is empty; a code 2 or 3 header alone is not a packet at all.
  assert.ok(isEmptyOpusPacket(Uint8Array.of(CELT_20_MS | 1)));
  assert.ok(!isEmptyOpusPacket(Uint8Array.of(CELT_20_MS | 2)));
  assert.ok(!isEmptyOpusPacket(Uint8Array.of(CELT_20_MS, 0)));
});
