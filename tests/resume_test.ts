import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { startTestSystem } from "./support/test_system.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { EventLog } from "../store/event_log.ts";
import { ManualClock } from "../lib/clock.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import type { JitterStats } from "../pipeline/jitter_buffer.ts";

const speech = speechFixture().subarray(0, 16000 * 3); // 150 frames, 15 micro-turns
const target = TEST_DATABASE_TARGETS[0];

Deno.test("a dropped connection resumes with its token: replayed audio is taken once, the session goes on", async () => {
  const db = await target.open();
  const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
  try {
    const { sessionId, token, client: first, ready } = await ProtocolClient.open(system.url);
    assert.equal(ready.resumed, false);
    assert.equal(ready.acknowledged, null);
    const packets = speechPackets(speech);
    const firstSeq = 1000;

    // Mid-utterance: 70 packets go out, the client sees acknowledgements, then the network
    // cuts (the client never says bye).
    packets.slice(0, 70).forEach((p) => first.send(p));
    await first.acknowledged((sequence) => sequence >= firstSeq + 59);
    const lastAck = first.lastAck!;
    first.close();
    await first.closedWith();

    // A connect token is not a resume token.
    const wrong = await ProtocolClient.resume(system.url, sessionId, token, lastAck);
    assert.equal((await wrong.closedWith()).code, 4401);

    // Reconnect with the resume token; replay everything after the last acknowledgement the
    // client saw (some of which the edge already has), then the rest of the utterance.
    const second = await ProtocolClient.resume(system.url, sessionId, ready.resumeToken, lastAck);
    const resumed = await second.message("ready");
    assert.equal(resumed.resumed, true);
    const replayFrom = lastAck - firstSeq + 1;
    packets.slice(replayFrom).forEach((p) => second.send(p));
    second.send(JSON.stringify({ type: "bye" }));
    const closed = await second.message("closed");
    assert.equal(closed.microTurns, packets.length / FRAMES_PER_MICRO_TURN);
    await system.close();

    const events = await new EventLog(db).read(sessionId);
    const turns = events.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn);
    assert.deepEqual(turns, [...turns.keys()], "micro-turn indices contiguous, none twice");
    assert.deepEqual(
      events.map((e) => e.kind).filter((k) => k !== "micro_turn"),
      ["session_opened", "connection_lost", "session_resumed", "session_closed"],
    );
    const jitter = events.at(-1)!.payload.jitter as JitterStats;
    assert.equal(jitter.received, packets.length, "every packet taken exactly once");
    assert.equal(jitter.duplicates, 70 - replayFrom);
    assert.equal(jitter.concealedFrames + jitter.missingFrames, 0, "no audio lost");
  } finally {
    await system.close();
    await db.close();
  }
});

Deno.test("a resume while the old connection still looks open supersedes it", async () => {
  const db = await target.open();
  const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
  try {
    const { sessionId, client: first, ready } = await ProtocolClient.open(system.url);
    const second = await ProtocolClient.resume(system.url, sessionId, ready.resumeToken);
    await second.message("ready");
    assert.equal((await first.closedWith()).code, 4411);
    assert.equal((await first.message("error")).code, "superseded");
    // The new connection carries the session.
    speechPackets(speech.subarray(0, 16000)).forEach((p) => second.send(p));
    second.send(JSON.stringify({ type: "bye" }));
    assert.equal((await second.message("closed")).microTurns, 5);
  } finally {
    await system.close();
    await db.close();
  }
});

Deno.test("a session not resumed within its window ends; resuming it then is refused", async () => {
  const db = await target.open();
  const system = await startTestSystem(db, { config: { resumeWindowSeconds: 0.2 } });
  try {
    const { sessionId, client: first, ready } = await ProtocolClient.open(system.url);
    const session = system.edge.live.get(sessionId)!;
    first.close();
    await session.ended;
    const late = await ProtocolClient.resume(system.url, sessionId, ready.resumeToken);
    assert.equal((await late.closedWith()).code, 4412);
    await system.close();
    const events = await new EventLog(db).read(sessionId);
    assert.equal(events.at(-1)?.kind, "session_closed");
    assert.equal(events.at(-1)?.payload.reason, "client did not resume");
  } finally {
    await system.close();
    await db.close();
  }
});
