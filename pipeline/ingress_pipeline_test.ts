import assert from "node:assert/strict";
import { createIngressPipeline } from "./ingress_pipeline.ts";
import { parseRtpPacket } from "./rtp_packet.ts";
import type { IngressFrame } from "./ingress_frames.ts";
import { speechPackets } from "../tests/support/protocol_client.ts";
import { readWav } from "../lib/wav_file.ts";
import { ManualClock } from "../lib/clock.ts";
import { type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";

const speech = readWav(
  Deno.readFileSync(new URL("../tests/fixtures/speech_16k.wav", import.meta.url)),
)
  .samples.subarray(8000, 8000 + 60 * 320);
const SESSION = "00000000-0000-4000-8000-000000000001";

async function run(frames: IngressFrame[], reorderWindow?: number) {
  const pipeline = createIngressPipeline({
    sessionId: SESSION,
    clock: new ManualClock(),
    reorderWindow,
  });
  const turns: MicroTurn[] = [];
  const collected = pipeline.readable.pipeTo(
    new WritableStream({ write: (t) => void turns.push(t) }),
  );
  const writer = pipeline.writable.getWriter();
  for (const frame of frames) await writer.write(frame);
  await writer.close();
  await collected;
  return { turns, stats: pipeline.orderStats };
}

const rtp = (bytes: Uint8Array): IngressFrame => ({ type: "rtp", packet: parseRtpPacket(bytes) });

Deno.test("reordered and duplicated packets give the same micro-turns as in-order ones", async () => {
  // Sequence numbers cross the 16-bit wrap on purpose.
  const packets = speechPackets(speech, 65530);
  const inOrder = await run(packets.map(rtp));
  assert.equal(inOrder.turns.length, 6);
  const shuffled = packets.map(rtp);
  for (let i = 0; i + 3 < shuffled.length; i += 4) {
    [shuffled[i], shuffled[i + 2]] = [shuffled[i + 2], shuffled[i]];
  }
  shuffled.splice(10, 0, rtp(packets[7]), rtp(packets[9]));
  const messy = await run(shuffled);
  assert.deepEqual(messy.turns.map((t) => t.dmel), inOrder.turns.map((t) => t.dmel));
  assert.deepEqual(messy.turns.map((t) => t.index), [0, 1, 2, 3, 4, 5]);
  assert.equal(messy.stats.discarded, 2);
  assert.equal(messy.stats.lost, 0);
  assert.ok(messy.turns.every((t) => t.flags === 0));
});

Deno.test("a lost packet is concealed and flagged; text joins the open micro-turn", async () => {
  const packets = speechPackets(speech).map(rtp);
  const frames: IngressFrame[] = [...packets.slice(0, 14), ...packets.slice(15)];
  frames.splice(25, 0, { type: "text", text: "hi" });
  const { turns, stats } = await run(frames);
  assert.equal(turns.length, 6, "the lost frame keeps its place: no micro-turn is lost");
  assert.equal(stats.lost, 1);
  assert.deepEqual(turns.map((t) => t.flags), [0, MicroTurnFlags.CONCEALED_AUDIO, 0, 0, 0, 0]);
  assert.deepEqual(turns.map((t) => t.text), ["", "", "hi", "", "", ""]);
});

Deno.test("a long gap is marked missing; a partly filled last micro-turn is flushed", async () => {
  const packets = speechPackets(speech).map(rtp);
  const frames = [...packets.slice(0, 10), ...packets.slice(40, 55)];
  const { turns } = await run(frames);
  assert.deepEqual(turns.map((t) => t.index), [0, 1, 2, 3, 4, 5]);
  assert.equal(turns[1].flags & MicroTurnFlags.INPUT_MISSING, MicroTurnFlags.INPUT_MISSING);
  assert.equal(turns[2].flags & MicroTurnFlags.INPUT_MISSING, MicroTurnFlags.INPUT_MISSING);
  assert.equal(turns[3].flags & MicroTurnFlags.INPUT_MISSING, MicroTurnFlags.INPUT_MISSING);
  assert.equal(turns[4].flags, 0);
  assert.equal(
    turns[5].flags,
    MicroTurnFlags.INPUT_MISSING,
    "5 of 10 frames, then the stream ended",
  );
});

Deno.test("a sender restart with a far-away sequence number continues the micro-turns", async () => {
  const first = speechPackets(speech.subarray(0, 20 * 320), 100).map(rtp);
  const restarted = speechPackets(speech.subarray(20 * 320, 40 * 320), 40000).map(rtp);
  const { turns, stats } = await run([...first, ...restarted]);
  assert.deepEqual(turns.map((t) => t.index), [0, 1, 2, 3]);
  assert.ok(turns.every((t) => t.flags === 0));
  assert.equal(stats.restarts, 1);
});
