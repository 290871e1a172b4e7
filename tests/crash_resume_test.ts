import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { killMain, type MainProcess, startMain } from "./support/main_process.ts";
import { openDatabase } from "../store/database.ts";
import { EventLog } from "../store/event_log.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { MicroTurnFlags } from "../protocol/worker_link.ts";

const speech = speechFixture();
const FIRST_SEQ = 1000;

Deno.test("SIGKILL mid-session, restart, resume: acknowledged input kept, nothing doubled, numbering continues", async () => {
  const dataDir = await Deno.makeTempDir();
  // A fixed secret and edge id: tokens and leases outlive the process, as in production.
  const args = [
    `--pglite-dir=${dataDir}`,
    "--edge-id=crash-test-edge",
    "--token-secret=crash-test-secret-0123456789",
  ];
  let main: MainProcess | undefined;
  try {
    main = await startMain(args);
    const { sessionId, token, client: first } = await ProtocolClient.open(main.url);
    const packets = speechPackets(speech.subarray(0, 200 * 320)); // 200 frames, 20 micro-turns
    packets.slice(0, 120).forEach((p) => first.send(p));
    // Acks come only for durable micro-turns. Wait for one past the fifth micro-turn.
    const acked = await first.acknowledged((sequence) => sequence >= FIRST_SEQ + 49);
    main.child.kill("SIGKILL");
    await main.child.status;
    await main.drained;
    // The client's last acknowledgement is what it knows is safe.
    const lastAck = first.lastAck!;
    assert.ok(lastAck >= acked);
    await first.closedWith();

    // Restart the same edge and reconnect; replay everything after the last acknowledgement.
    main = await startMain(args);
    const second = await ProtocolClient.connect(main.url, sessionId, token);
    const ready = await second.message("ready");
    assert.equal(ready.acknowledged, null, "a fresh process has received nothing yet");
    const replayFrom = lastAck - FIRST_SEQ + 1;
    packets.slice(replayFrom).forEach((p) => second.send(p));
    second.send(JSON.stringify({ type: "bye" }));
    await second.message("closed");
    main.child.kill("SIGTERM");
    assert.equal((await main.child.status).code, 0);
    await main.drained;

    const db = await openDatabase({ pgliteDataDir: dataDir });
    const events = await new EventLog(db).read(sessionId);
    await db.close();
    assert.deepEqual(events.map((e) => e.seq), [...events.keys()], "no event doubled or lost");
    const turns = events.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn!);
    assert.deepEqual(
      turns,
      [...turns.keys()],
      "micro-turn indices continue without gap or overlap",
    );
    // Every micro-turn whose input was acknowledged before the crash is stored.
    const restartAt = events.findIndex((e, i) => i > 0 && e.kind === "session_opened");
    const beforeCrash = events.slice(0, restartAt).filter((e) => e.kind === "micro_turn");
    const afterRestart = events.slice(restartAt).filter((e) => e.kind === "micro_turn");
    const ackedTurns = Math.floor((lastAck - FIRST_SEQ + 1) / FRAMES_PER_MICRO_TURN);
    assert.ok(beforeCrash.length >= ackedTurns, `${beforeCrash.length} < ${ackedTurns} acked`);
    // The replayed audio made the rest, numbered on from the last stored micro-turn. The
    // micro-turn clock adds input-missing ones while no audio comes: on a loaded machine,
    // several before the replay reaches the new process. Replayed audio counted twice would
    // make about twice the micro-turns with input.
    const replayedTurns = Math.ceil((packets.length - replayFrom) / FRAMES_PER_MICRO_TURN);
    assert.equal(afterRestart[0].microTurn, beforeCrash.length);
    const withInput = afterRestart.filter((e) =>
      ((e.payload.input as { flags: number }).flags & MicroTurnFlags.INPUT_MISSING) === 0
    );
    assert.ok(
      withInput.length >= replayedTurns && withInput.length <= replayedTurns + 2,
      `${withInput.length} micro-turns with input for ${replayedTurns} replayed`,
    );
    assert.equal(events.at(-1)!.kind, "session_closed");
  } finally {
    killMain(main);
    await Deno.remove(dataDir, { recursive: true });
  }
});
