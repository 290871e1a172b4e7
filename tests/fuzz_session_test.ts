import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { startTestSystem } from "./support/test_system.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { ManualClock } from "../lib/clock.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { parseRtpPacket, serializeRtpPacket } from "../pipeline/rtp_packet.ts";
import { serializeVideoMessage } from "../protocol/video_message.ts";

const speech = speechFixture().subarray(0, 16000 * 2);

Deno.test("fuzzed packets never break the session or the process", async () => {
  const db = await TEST_DATABASE_TARGETS[0].open();
  const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
  try {
    const { client } = await ProtocolClient.open(system.url);
    const random = seededRandom(11);
    const valid = speechPackets(speech);
    let invalid = 0;
    for (let i = 0; i < 1500; i++) {
      const base = valid[i % valid.length];
      const kind = Math.floor(random() * 7);
      if (kind === 0) {
        // Random bytes with the RTP version bits, so they reach the parser.
        const bytes = Uint8Array.from(
          { length: 1 + Math.floor(random() * 60) },
          () => Math.floor(random() * 256),
        );
        bytes[0] = 0x80 | (bytes[0] & 0x3f);
        client.send(bytes);
        try {
          const packet = parseRtpPacket(bytes);
          if (packet.payloadType !== 111) invalid++;
        } catch {
          invalid++;
        }
      } else if (kind === 1) {
        client.send(base.slice(0, 1 + Math.floor(random() * 11))); // truncated header
        invalid++;
      } else if (kind === 2) {
        client.send(serializeRtpPacket({ ...parseRtpPacket(base), payloadType: 0 }));
        invalid++;
      } else if (kind === 3) {
        const packet = parseRtpPacket(base);
        client.send(serializeRtpPacket({
          ...packet,
          sequenceNumber: Math.floor(random() * 0x10000),
          timestamp: Math.floor(random() * 2 ** 32),
        }));
      } else if (kind === 4) {
        // A camera frame whose JPEG is garbage after a valid start-of-image marker.
        const garbage = Uint8Array.from({ length: 40 }, () => Math.floor(random() * 256));
        garbage.set([0xff, 0xd8]);
        client.send(serializeVideoMessage({ timestampMs: i, jpeg: garbage }));
        client.send(base);
      } else {
        client.send(base);
      }
    }
    client.send(JSON.stringify({ type: "bye" }));
    const closed = await client.message("closed");
    assert.ok(closed.microTurns >= 1);
    const errors = client.messages.filter((m) => m.type === "error");
    assert.ok(errors.some((e) => e.code === "malformed_video"));
    assert.ok(errors.every((e) => !e.fatal), "no fuzzed packet was fatal");
    assert.ok(errors.length >= invalid, `${errors.length} errors for ${invalid} bad packets`);
    const outputs = client.messages.filter((m) => m.type === "output").map((m) => m.index);
    assert.deepEqual(outputs, [...outputs.keys()]);
    assert.equal((await client.closedWith()).code, 1000);

    // The process still serves a new session end to end.
    const { client: other } = await ProtocolClient.open(system.url);
    speechPackets(speech.subarray(0, 16000)).forEach((p) => other.send(p));
    other.send(JSON.stringify({ type: "bye" }));
    assert.equal((await other.message("closed")).microTurns, 5);
  } finally {
    await system.close();
    await db.close();
  }
});
