import assert from "node:assert/strict";
import { EventLog } from "../store/event_log.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { speechFixture } from "./support/speech_fixture.ts";
import { startTestPool } from "./support/test_pool.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";

const speech = speechFixture().subarray(0, 16000 * 3); // 150 frames, 15 micro-turns

Deno.test("a session whose worker goes away moves to another worker of the pool: no error, numbering continuous, every input kept", async () => {
  const pool = await startTestPool();
  const { db, workers } = pool;
  const edge = pool.startEdge();
  try {
    const { sessionId, client } = await ProtocolClient.open(edge.url);
    const holding = workers.find((w) => w.runtime.sessionCount === 1)!;
    const other = workers.find((w) => w !== holding)!;
    const packets = speechPackets(speech);
    const firstSeq = 1000;
    packets.slice(0, 70).forEach((p) => client.send(p));
    await client.acknowledged((sequence) => sequence >= firstSeq + 59);

    await holding.close(); // its link drops: the session must move, the client must not notice
    workers.splice(workers.indexOf(holding), 1);
    // Audio arriving while it moves is a gap; this test sends the rest once it has moved (it
    // sends faster than real time: all of it would fall in the gap).
    const settled = () => other.runtime.sessionCount === 1 && !edge.live.get(sessionId)?.moving;
    for (let waited = 0; !settled(); waited += 5) {
      assert.ok(waited < 10_000, "the session never reached the other worker");
      await new Promise((r) => setTimeout(r, 5));
    }
    // An audio-only conversation: the rebuilt context is the recent micro-turns, replayed (at
    // least the 6 acknowledged before the move, 10 positions each). The edge's clock is manual:
    // no micro-turn closes meanwhile, so only a replay can fill it; text alone gives 10.
    for (let waited = 0; other.runtime.contextPositions(sessionId) < 60; waited += 5) {
      assert.ok(
        waited < 10_000,
        `${other.runtime.contextPositions(sessionId)} positions after the move`,
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    packets.slice(70).forEach((p) => client.send(p));
    await client.acknowledged((sequence) => sequence >= firstSeq + packets.length - 1).catch(
      (e) => {
        throw new Error(
          `${e.message}: ${JSON.stringify(client.messages.filter((m) => m.type === "error"))}`,
        );
      },
    );
    assert.equal(other.runtime.sessionCount, 1, "the session runs on the other worker");
    client.send(JSON.stringify({ type: "bye" }));
    const closed = await client.message("closed");
    assert.equal(closed.microTurns, packets.length / FRAMES_PER_MICRO_TURN);
    assert.deepEqual(client.messages.filter((m) => m.type === "error"), []);
    // The new worker answers: the last micro-turns have outputs again.
    const last = packets.length / FRAMES_PER_MICRO_TURN - 1;
    assert.ok(
      client.messages.some((m) => m.type === "output" && m.index === last),
      JSON.stringify(
        client.messages.filter((m) => m.type === "output").map((m) =>
          (m as { index: number }).index
        ),
      ),
    );
    await edge.close();
    const events = await new EventLog(db).read(sessionId);
    const turns = events.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn);
    assert.deepEqual(turns, [...turns.keys()], "micro-turn indices contiguous, none twice");
    assert.equal(turns.length, packets.length / FRAMES_PER_MICRO_TURN, "every input kept");
    const moved = events.find((e) => e.kind === "worker_moved");
    assert.ok(moved, `events: ${events.map((e) => e.kind).join(", ")}`);
    assert.equal(moved.payload.to, other.linkUrl);
    assert.ok(Number(moved.payload.replayedMicroTurns) >= 6, JSON.stringify(moved.payload));
    // A micro-turn the old worker never answered is logged as lost, not left out.
    const lost = events.filter((e) =>
      e.kind === "micro_turn" && e.payload.output &&
      (e.payload.output as { lost?: boolean }).lost
    );
    assert.ok(lost.length <= 3, `${lost.length} micro-turns lost in the move`);
  } finally {
    await pool.close();
  }
});

Deno.test("a session whose worker goes away while no other has room waits for one, then moves there: a gap, no error", async () => {
  const pool = await startTestPool(["w-a"]);
  const edge = pool.startEdge();
  try {
    const { sessionId, client } = await ProtocolClient.open(edge.url);
    const [only] = pool.workers.splice(0, 1);
    await only.close();
    // Nowhere to go: the session waits, moving, and its client sees no error.
    for (let waited = 0; !edge.live.get(sessionId)?.moving; waited += 5) {
      assert.ok(waited < 5_000, "the session never noticed its worker went away");
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(edge.live.get(sessionId)?.moving, "still waiting for a worker");
    // A worker joins the pool (scaled out, or its heartbeat was late): the session moves there.
    const joined = await pool.addWorker("w-b");
    for (let waited = 0; joined.runtime.sessionCount === 0; waited += 20) {
      assert.ok(waited < 10_000, "the session never reached the worker that joined");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!edge.live.get(sessionId)?.isEnding);
    assert.deepEqual(client.messages.filter((m) => m.type === "error"), []);
  } finally {
    await pool.close();
  }
});
