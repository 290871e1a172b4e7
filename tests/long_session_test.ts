import { loopSamples, speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { startTestSystem } from "./support/test_system.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { EventLog } from "../store/event_log.ts";
import { CompactionStore, sessionContext } from "../store/compactions.ts";
import { ManualClock } from "../lib/clock.ts";
import { InteractionModel } from "../gpu-worker/interaction_model.ts";
import { buildReferenceModel } from "../gpu-worker/model/reference_model.ts";
import { WorkerRuntime } from "../gpu-worker/worker_runtime.ts";
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";
import { FRAMES_PER_MICRO_TURN, SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

const fixture = speechFixture();
/** The tiny model's window: 160 positions, 16 micro-turns (3.2 s). */
const WINDOW_POSITIONS = 160;
const TURNS = 240; // 48 s of audio: fifteen windows' worth

Deno.test("a session far longer than the window: compactions happen, the context never exceeds the window, a rebuilt session starts from the stored state", async () => {
  const db = await TEST_DATABASE_TARGETS[0].open();
  const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
  try {
    const { sessionId, token, client } = await ProtocolClient.open(system.url);
    const pcm = loopSamples(fixture, TURNS * FRAMES_PER_MICRO_TURN * SAMPLES_PER_FRAME);
    const packets = speechPackets(pcm);
    const runtime = system.worker.runtime;
    let maxContext = 0;
    for (let turn = 0; turn < TURNS; turn++) {
      if (turn === 3) client.send(JSON.stringify({ type: "text", text: "my name is Ada" }));
      if (turn === 120) client.send(JSON.stringify({ type: "text", text: "remember I like tea" }));
      packets.slice(turn * 10, turn * 10 + 10).forEach((p) => client.send(p));
      await client.message("output", (o) => o.index === turn);
      maxContext = Math.max(maxContext, runtime.contextPositions(sessionId));
    }
    client.send(JSON.stringify({ type: "bye" }));
    assert.equal((await client.message("closed")).microTurns, TURNS);
    assert.ok(maxContext <= WINDOW_POSITIONS, `context reached ${maxContext} positions`);

    const events = await new EventLog(db).read(sessionId);
    const compacted = events.filter((e) => e.kind === "compacted");
    assert.ok(compacted.length >= 5, `${compacted.length} compactions`);
    const store = new CompactionStore(db);
    const latest = await store.latest(sessionId);
    assert.equal(latest?.id, compacted.length - 1);
    assert.deepEqual(latest?.pinnedFacts, ["my name is Ada", "remember I like tea"]);

    // Reopened anywhere, the session is rebuilt from the store alone; two rebuilds from the
    // stored compaction + window are the same state: the same next micro-turn gives the same
    // output.
    const { text } = await sessionContext(store, sessionId, 4096);
    assert.match(text, /my name is Ada/);
    const model = await InteractionModel.load(buildReferenceModel("tiny").bytes, { name: "tiny" });
    const next: MicroTurn = {
      sessionId,
      index: TURNS,
      wallClockMs: Date.now(),
      flags: 0,
      dmelFrames: 20,
      dmel: new Uint8Array(1600).fill(5),
      frameOrigins: new Uint8Array(10),
      lateMediaMs: [],
      text: "hello again",
      patchCount: 0,
      patches: new Uint8Array(0),
    };
    const outputs: MicroTurnOutput[] = [];
    const resumedAt = new ManualClock(Date.now() + 86_400_000); // a day later
    const startedAtMs = Date.now() - 60_000;
    for (const context of [text, text, "a different history"]) {
      const rebuilt = new WorkerRuntime(model, {
        registry: new Registry(),
        capacity: 2,
        clock: resumedAt,
      });
      await rebuilt.open(sessionId, startedAtMs, context);
      assert.ok(rebuilt.contextPositions(sessionId) > 0);
      outputs.push(await rebuilt.run(next));
      rebuilt.release();
    }
    assert.deepEqual(outputs[0].audio, outputs[1].audio);
    assert.equal(outputs[0].control, outputs[1].control);
    assert.notDeepEqual(outputs[2].audio, outputs[0].audio, "the context shapes the state");

    // Through the system: reconnecting continues the numbering with the stored context.
    const again = await ProtocolClient.connect(system.url, sessionId, token);
    await again.message("ready");
    again.send(JSON.stringify({ type: "bye" }));
    await again.message("closed");
    await system.close();
    const reopened = (await new EventLog(db).read(sessionId))
      .filter((e) => e.kind === "session_opened").at(-1)!;
    assert.equal(reopened.payload.firstMicroTurn, TURNS);
    assert.equal(reopened.payload.contextChars, text.length);
    await model.close();
  } finally {
    await system.close();
    await db.close();
  }
});
