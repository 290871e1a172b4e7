import { speechFixture } from "../tests/support/speech_fixture.ts";
import assert from "node:assert/strict";
import { createIngressPipeline } from "./ingress_pipeline.ts";
import { parseRtpPacket } from "./rtp_packet.ts";
import type { IngressFrame } from "./ingress_frames.ts";
import { speechPackets } from "../tests/support/protocol_client.ts";
import { type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";
import { DMEL_BINS, PATCH_BYTES, PATCHES_PER_FRAME } from "../protocol/media_format.ts";
import jpeg from "jpeg-js";

const speech = speechFixture().subarray(8000, 8000 + 60 * 320);
const SESSION = "00000000-0000-4000-8000-000000000001";

/** Something that reaches the edge at `atMs`. */
type Timed =
  & { atMs: number }
  & ({ bytes: Uint8Array } | { text: string } | { jpeg: Uint8Array; timestampMs: number });

/** Feeds `events` with a clock tick every 10 ms up to `endMs`; returns the micro-turns. */
async function run(events: Timed[], endMs: number): Promise<MicroTurn[]> {
  const pipeline = createIngressPipeline({ sessionId: SESSION, startMs: 0 });
  const turns: MicroTurn[] = [];
  const collected = pipeline.readable.pipeTo(
    new WritableStream({ write: (t) => void turns.push(t) }),
  );
  const writer = pipeline.writable.getWriter();
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs);
  let next = 0;
  for (let now = 0; now <= endMs; now += 10) {
    while (next < sorted.length && sorted[next].atMs <= now) {
      const event = sorted[next++];
      const frame: IngressFrame = "bytes" in event
        ? { type: "rtp", packet: parseRtpPacket(event.bytes), arrivalMs: event.atMs }
        : "jpeg" in event
        ? { type: "video", jpeg: event.jpeg, timestampMs: event.timestampMs }
        : { type: "text", text: event.text };
      await writer.write(frame);
    }
    await writer.write({ type: "tick", nowMs: now });
  }
  await writer.close();
  await collected;
  return turns;
}

/** Packet i arrives 40 ms after its audio ends. */
const onTime = (packets: Uint8Array[]): { atMs: number; bytes: Uint8Array }[] =>
  packets.map((bytes, i) => ({ bytes, atMs: (i + 1) * 20 + 40 }));

Deno.test("reordered and duplicated packets give the same micro-turns as in-order ones", async () => {
  // Sequence numbers cross the 16-bit wrap on purpose.
  const packets = speechPackets(speech, 65530);
  const inOrder = await run(onTime(packets), 1300);
  assert.equal(inOrder.length, 6);
  const messy = onTime(packets);
  for (let i = 0; i + 3 < messy.length; i += 4) {
    [messy[i].bytes, messy[i + 2].bytes] = [messy[i + 2].bytes, messy[i].bytes];
  }
  messy.push({ ...messy[7] }, { ...messy[9], atMs: messy[9].atMs + 50 });
  const turns = await run(messy, 1300);
  assert.deepEqual(turns.map((t) => t.dmel), inOrder.map((t) => t.dmel));
  assert.deepEqual(turns.map((t) => t.index), [0, 1, 2, 3, 4, 5]);
  assert.ok(turns.every((t) => t.flags === 0));
});

Deno.test("a lost packet is concealed and flagged; text joins the open micro-turn", async () => {
  const events: Timed[] = onTime(speechPackets(speech)).filter((_, i) => i !== 14);
  events.push({ text: "hi", atMs: 500 });
  const turns = await run(events, 1300);
  assert.equal(turns.length, 6, "the lost frame keeps its place: no micro-turn is lost");
  assert.deepEqual(turns.map((t) => t.flags), [0, MicroTurnFlags.CONCEALED_AUDIO, 0, 0, 0, 0]);
  assert.deepEqual(turns.map((t) => t.frameOrigins[4]), [0, 1, 0, 0, 0, 0], "recovered by FEC");
  assert.deepEqual(turns.map((t) => t.text), ["", "", "hi", "", "", ""]);
});

Deno.test("a stall gives input-missing micro-turns, then its audio arrives late with its own media times", async () => {
  // Packets 10..29 (media 200..600 ms) are held up until 1500 ms.
  const events = onTime(speechPackets(speech)).map((e, i) =>
    i >= 10 && i < 30 ? { ...e, atMs: 1500 } : e
  );
  const turns = await run(events, 2000);
  assert.deepEqual(turns.map((t) => t.index), turns.map((_, i) => i));
  const missing = turns.filter((t) => t.flags & MicroTurnFlags.INPUT_MISSING);
  assert.ok(missing.length >= 1, "a stall past the concealment bound is said, not hidden");
  const withLate = turns.filter((t) => t.flags & MicroTurnFlags.LATE_AUDIO);
  const lateMs = withLate.flatMap((t) => t.lateMediaMs);
  assert.ok(lateMs.length >= 15);
  assert.deepEqual(lateMs, [...lateMs].sort((a, b) => a - b));
  for (const turn of withLate) {
    assert.ok(turn.lateMediaMs.every((ms) => ms < turn.index * 200), "late means earlier");
    assert.equal(turn.dmel.length, (20 + 2 * turn.lateMediaMs.length) * DMEL_BINS);
  }
});

Deno.test("a client that sends no audio still gets micro-turns on the wall clock", async () => {
  const turns = await run([{ text: "typing only", atMs: 250 }], 1000);
  assert.ok(turns.length >= 3);
  assert.deepEqual(turns.map((t) => t.index), turns.map((_, i) => i));
  assert.ok(turns.every((t) => t.flags === MicroTurnFlags.INPUT_MISSING));
  assert.equal(turns.map((t) => t.text).join(""), "typing only");
});

/** A solid-colour 320x240 JPEG. */
function solidJpeg(rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(320 * 240 * 4);
  for (let i = 0; i < data.length; i += 4) data.set([...rgb, 255], i);
  return jpeg.encode({ data, width: 320, height: 240 }, 90).data;
}

Deno.test("the newest camera frame of a micro-turn becomes its patches; turns without one have none", async () => {
  const events: Timed[] = onTime(speechPackets(speech));
  // Two frames during micro-turn 1, the later capture arriving first; none in micro-turn 2.
  events.push(
    { atMs: 300, jpeg: solidJpeg([0, 0, 250]), timestampMs: 290 },
    { atMs: 310, jpeg: solidJpeg([250, 0, 0]), timestampMs: 250 },
  );
  const turns = await run(events, 1300);
  assert.deepEqual(turns.map((t) => t.patchCount), [0, PATCHES_PER_FRAME, 0, 0, 0, 0]);
  const patches = turns[1].patches;
  assert.equal(patches.length, PATCHES_PER_FRAME * PATCH_BYTES);
  assert.ok(patches[2] > 200 && patches[0] < 30, "the frame captured last wins: blue");
});
