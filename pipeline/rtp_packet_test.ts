import assert from "node:assert/strict";
import {
  looksLikeRtp,
  MalformedRtpPacketError,
  parseRtpPacket,
  serializeRtpPacket,
} from "./rtp_packet.ts";
import { seededRandom } from "../lib/seeded_random.ts";

Deno.test("RTP packets round-trip through serialize and parse (fuzzed)", () => {
  const random = seededRandom(7);
  for (let i = 0; i < 2000; i++) {
    const payload = new Uint8Array(Math.floor(random() * 300));
    for (let j = 0; j < payload.length; j++) payload[j] = Math.floor(random() * 256);
    const packet = {
      payloadType: Math.floor(random() * 128),
      marker: random() < 0.5,
      sequenceNumber: Math.floor(random() * 65536),
      timestamp: Math.floor(random() * 2 ** 32),
      ssrc: Math.floor(random() * 2 ** 32),
      payload,
    };
    const parsed = parseRtpPacket(serializeRtpPacket(packet));
    assert.deepEqual({ ...parsed, payload: [...parsed.payload] }, {
      ...packet,
      payload: [...payload],
    });
  }
});

Deno.test("RTP parse skips CSRCs and header extensions and strips padding", () => {
  const bytes = Uint8Array.from([
    0xb1,
    111,
    0,
    5,
    0,
    0,
    3,
    0xc0,
    0,
    0,
    0,
    9, // V=2 P=1 X=1 CC=1
    1,
    2,
    3,
    4, // CSRC
    0xbe,
    0xde,
    0,
    1,
    9,
    9,
    9,
    9, // extension, one word
    0xaa,
    0xbb, // payload
    0,
    0,
    3, // padding of 3
  ]);
  const packet = parseRtpPacket(bytes);
  assert.equal(packet.sequenceNumber, 5);
  assert.equal(packet.timestamp, 960);
  assert.deepEqual([...packet.payload], [0xaa, 0xbb]);
});

Deno.test("RTP parse rejects random and truncated bytes with a typed error, never a crash", () => {
  const random = seededRandom(11);
  let rejected = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 40));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    try {
      const packet = parseRtpPacket(bytes);
      assert.ok(looksLikeRtp(bytes));
      assert.ok(packet.payload.length <= bytes.length - 12);
    } catch (error) {
      assert.ok(error instanceof MalformedRtpPacketError, String(error));
      rejected++;
    }
  }
  assert.ok(rejected > 4000);
  assert.throws(() => parseRtpPacket(new Uint8Array([0x80, 111, 0])), MalformedRtpPacketError);
});
