import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { openDatabase } from "../store/database.ts";
import { EventLog } from "../store/event_log.ts";
import { killMain, type MainProcess, startMain } from "./support/main_process.ts";

const speech = speechFixture();

Deno.test("SIGTERM finishes the open micro-turn, closes sockets with 1001, flushes events, exits 0", async () => {
  const dataDir = await Deno.makeTempDir();
  let main: MainProcess | undefined;
  try {
    main = await startMain([`--pglite-dir=${dataDir}`]);
    const { url, child } = main;
    const { sessionId, client } = await ProtocolClient.open(url);
    // 25 frames: two whole micro-turns and half of a third.
    speechPackets(speech.subarray(16000, 16000 + 25 * 320)).forEach((p) => client.send(p));
    await client.message("output", (o) => o.index === 1);

    child.kill("SIGTERM");
    const closed = await client.message("closed");
    assert.equal(closed.microTurns, 3, "the half-filled micro-turn is finished, not dropped");
    assert.equal((await client.closedWith()).code, 1001);
    const status = await child.status;
    assert.equal(status.code, 0);
    await main.drained;

    const db = await openDatabase({ pgliteDataDir: dataDir });
    const events = await new EventLog(db).read(sessionId);
    await db.close();
    assert.deepEqual(
      events.map((e) => e.kind),
      ["session_opened", "micro_turn", "micro_turn", "micro_turn", "session_closed"],
    );
  } finally {
    killMain(main);
    await Deno.remove(dataDir, { recursive: true });
  }
});
