import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { startTestSystem } from "./support/test_system.ts";
import { createSession, ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { EventLog } from "../store/event_log.ts";
import { ManualClock } from "../lib/clock.ts";

const speech = speechFixture();

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name:
      `[${target.name}] two edges racing for one session: exactly one wins, the other serves it once released`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
      try {
        const other = system.addEdge("other-edge");
        const { sessionId, token } = await createSession(system.url);
        const clients = await Promise.all([
          ProtocolClient.connect(system.url, sessionId, token),
          ProtocolClient.connect(other.url, sessionId, token),
        ]);
        await Promise.all(
          clients.map((c) =>
            c.until((c) => c.messages.length > 0 || c.closed !== undefined, "an answer")
          ),
        );
        const winners = clients.filter((c) => c.messages[0]?.type === "ready");
        const losers = clients.filter((c) => c.messages[0]?.type !== "ready");
        assert.equal(winners.length, 1, "exactly one edge serves the session");
        const refusal = await losers[0].message("error");
        assert.equal(refusal.code, "session_in_use");
        assert.equal((await losers[0].closedWith()).code, 4409);

        const winner = winners[0];
        speechPackets(speech.subarray(0, 30 * 320)).forEach((p) => winner.send(p));
        winner.send(JSON.stringify({ type: "bye" }));
        assert.equal((await winner.message("closed")).microTurns, 3);

        // Released: the edge that lost serves it now, and the numbering goes on.
        const loserUrl = clients[0] === winner ? other.url : system.url;
        const next = await ProtocolClient.connect(loserUrl, sessionId, token);
        await next.message("ready");
        speechPackets(speech.subarray(0, 20 * 320), 5000).forEach((p) => next.send(p));
        next.send(JSON.stringify({ type: "bye" }));
        await next.message("closed");
        await system.close();
        const turns = (await new EventLog(db).read(sessionId))
          .filter((e) => e.kind === "micro_turn").map((e) => e.microTurn);
        assert.deepEqual(turns, [0, 1, 2, 3, 4]);
      } finally {
        await system.close();
        await db.close();
      }
    },
  });
}

Deno.test("resume from anywhere reports where the session goes on; delete removes it and all its data", async () => {
  const db = await TEST_DATABASE_TARGETS[0].open();
  const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
  try {
    const { sessionId, token, client } = await ProtocolClient.open(system.url);
    speechPackets(speech.subarray(0, 20 * 320)).forEach((p) => client.send(p));
    client.send(JSON.stringify({ type: "bye" }));
    await client.message("closed");

    const other = system.addEdge("elsewhere");
    const resume = (url: string, bearer: string, id = sessionId) =>
      fetch(`${url}/v1/sessions/${id}/resume`, {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}` },
      });
    const answer = await resume(other.url, token);
    assert.equal(answer.status, 200);
    const body = await answer.json();
    assert.equal(body.nextMicroTurn, 2);
    assert.equal(body.liveOnAnotherEdge, false);
    assert.ok(body.token && body.websocketPath);
    assert.equal((await resume(other.url, "forged")).status, 401);
    assert.equal((await resume(other.url, token, crypto.randomUUID())).status, 404);

    const deleted = await fetch(`${other.url}/v1/sessions/${sessionId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(deleted.status, 204);
    assert.deepEqual(await new EventLog(db).read(sessionId), []);
    assert.deepEqual(await db.query("select id from sessions where id = $1", [sessionId]), []);
    const gone = await ProtocolClient.connect(system.url, sessionId, token);
    assert.equal((await gone.closedWith()).code, 4404);
  } finally {
    await system.close();
    await db.close();
  }
});
