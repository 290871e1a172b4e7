import assert from "node:assert/strict";
import { ClientInput, type ClientInputActions } from "./client_input.ts";
import { serializeRtpPacket } from "../pipeline/rtp_packet.ts";
import type { IngressFrame } from "../pipeline/ingress_frames.ts";
import { ManualClock } from "../lib/clock.ts";
import { OPUS_PAYLOAD_TYPE } from "../protocol/media_format.ts";

/** A ClientInput whose written frames are collected. */
function collecting(): { input: ClientInput; frames: IngressFrame[] } {
  const frames: IngressFrame[] = [];
  const ignore = () => {};
  const actions: ClientInputActions = {
    write: (frame) => void frames.push(frame),
    hasRoom: () => true,
    report: (code, message) => assert.fail(`${code}: ${message}`),
    tooBig: ignore,
    bye: ignore,
    ping: ignore,
    delegate: ignore,
    cancelTask: ignore,
    typed: ignore,
  };
  return { input: new ClientInput(actions, 64 * 1024, new ManualClock(0)), frames };
}

const PAYLOAD = Uint8Array.from({ length: 60 }, (_, i) => i + 1);
const packet = (payload: Uint8Array) =>
  serializeRtpPacket({
    payloadType: OPUS_PAYLOAD_TYPE,
    marker: false,
    sequenceNumber: 7,
    timestamp: 960,
    ssrc: 1,
    payload,
  });

Deno.test("an RTP payload held by the jitter buffer never keeps a much larger message alive", () => {
  const { input, frames } = collecting();
  // The usual packet: the payload is most of the message, which is kept as it came.
  const plain = packet(PAYLOAD);
  input.binary(plain);
  // The same payload padded to 1 KB (RFC 3550 padding: P bit, count in the last byte): only
  // the payload is kept.
  const padded = new Uint8Array(plain.length + 255);
  padded.set(plain);
  padded[0] |= 0x20;
  padded[padded.length - 1] = 255;
  input.binary(padded);
  const payloads = frames.map((f) => f.type === "rtp" ? f.packet.payload : assert.fail(f.type));
  assert.deepEqual(payloads.map((p) => [...p]), [[...PAYLOAD], [...PAYLOAD]]);
  assert.equal(payloads[0].buffer, plain.buffer);
  assert.equal(payloads[1].buffer.byteLength, PAYLOAD.length);
});
