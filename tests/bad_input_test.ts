import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { startTestSystem, TEST_TOKEN_SECRET } from "./support/test_system.ts";
import { createSession, ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { EventLog } from "../store/event_log.ts";
import { SessionTokens } from "../edge/session_tokens.ts";
import { ManualClock } from "../lib/clock.ts";
import { serializeRtpPacket } from "../pipeline/rtp_packet.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";

const speech = speechFixture();

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] bad input gets its error code; other sessions and stored events go on`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
      try {
        const a = await createSession(system.url);
        const b = await createSession(system.url);
        const alice = await ProtocolClient.connect(system.url, a.sessionId, a.token);
        const bob = await ProtocolClient.connect(system.url, b.sessionId, b.token);
        await alice.message("ready");
        await bob.message("ready");
        const packets = speechPackets(speech.subarray(0, 16000 * 2)); // 100 frames, 10 micro-turns
        const errors = () => alice.messages.filter((m) => m.type === "error");

        // Non-fatal: each answered with its code, the connection stays.
        packets.slice(0, 50).forEach((p) => alice.send(p));
        alice.send(new Uint8Array([0x80, 111, 0, 1])); // truncated RTP header
        alice.send(new Uint8Array([0x02, 2, 3])); // not RTP, unknown type byte
        alice.send(new Uint8Array([0x01, 0, 0, 0, 9, 1, 2])); // video message, not a JPEG
        alice.send(serializeRtpPacket({
          payloadType: 0,
          marker: false,
          sequenceNumber: 1,
          timestamp: 0,
          ssrc: 1,
          payload: new Uint8Array(10),
        }));
        alice.send("{not json");
        alice.send(JSON.stringify({ type: "shout", text: "x" }));
        alice.send(JSON.stringify({ type: "text", text: "" }));
        await alice.until(() => errors().length === 7, "seven errors");
        assert.deepEqual(errors().map((e) => e.type === "error" && [e.code, e.fatal]), [
          ["malformed_packet", false],
          ["unknown_message_type", false],
          ["malformed_video", false],
          ["unsupported_payload_type", false],
          ["invalid_control", false],
          ["invalid_control", false],
          ["invalid_control", false],
        ]);

        // Bob's first micro-turns, then an oversized message: fatal for Bob alone.
        packets.slice(0, 30).forEach((p) => bob.send(p));
        await bob.until(
          () => bob.messages.filter((m) => m.type === "output").length === 3,
          "3 outputs",
        );
        bob.send(new Uint8Array(70 * 1024).fill(0x80));
        const tooBig = await bob.message("error");
        assert.equal(tooBig.code, "message_too_big");
        assert.equal((await bob.closedWith()).code, 1009);

        // Refused connections: a second claim, an unknown session, bad tokens.
        const refusal = async (sessionId: string, token: string) => {
          const client = await ProtocolClient.connect(system.url, sessionId, token);
          const error = await client.message("error");
          return [error.code, (await client.closedWith()).code];
        };
        assert.deepEqual(await refusal(a.sessionId, a.token), ["session_in_use", 4409]);
        assert.deepEqual(await refusal(crypto.randomUUID(), a.token), ["unknown_session", 4404]);
        assert.deepEqual(await refusal("not-a-uuid", a.token), ["unknown_session", 4404]);
        assert.deepEqual(await refusal(b.sessionId, a.token), ["unauthorized", 4401]);
        assert.deepEqual(await refusal(b.sessionId, a.token.slice(0, -2) + "xx"), [
          "unauthorized",
          4401,
        ]);
        const past = new SessionTokens(TEST_TOKEN_SECRET, new ManualClock(Date.now() - 7200_000));
        const expired = await past.mint(b.sessionId, 60);
        assert.deepEqual(await refusal(b.sessionId, expired.token), ["unauthorized", 4401]);

        // Alice never noticed: the rest of her audio makes all her micro-turns.
        packets.slice(50).forEach((p) => alice.send(p));
        alice.send(JSON.stringify({ type: "bye" }));
        const closed = await alice.message("closed");
        assert.equal(closed.microTurns, packets.length / FRAMES_PER_MICRO_TURN);
        assert.equal(errors().length, 7);

        // The server still serves new sessions.
        const { client: carol } = await ProtocolClient.open(system.url);
        carol.close();

        await system.close();
        const log = new EventLog(db);
        const bobEvents = await log.read(b.sessionId);
        assert.deepEqual(
          bobEvents.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn),
          [0, 1, 2],
        );
        assert.equal(bobEvents.at(-1)?.kind, "session_closed");
        const aliceTurns = (await log.read(a.sessionId)).filter((e) => e.kind === "micro_turn");
        assert.equal(aliceTurns.length, 10);
      } finally {
        await system.close();
        await db.close();
      }
    },
  });
}
