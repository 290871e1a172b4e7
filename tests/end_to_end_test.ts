import { blockRms, correlation, speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { startTestSystem } from "./support/test_system.ts";
import { ManualClock } from "../lib/clock.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { OpusDecoder } from "../pipeline/opus_codec.ts";
import { EventLog } from "../store/event_log.ts";
import { SessionStore } from "../store/session_store.ts";
import {
  AUDIO_FRAME_MS,
  AUDIO_PACKET_MS,
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const speech = speechFixture();

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] speech in, one output per micro-turn back, in order, persisted`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      const system = await startTestSystem(db, { clock: new ManualClock(Date.now()) });
      try {
        const { sessionId, client, ready } = await ProtocolClient.open(system.url);
        assert.equal(ready.session, sessionId);

        // 100 ms a packet, as the SDK sends.
        const framesPerPacket = AUDIO_PACKET_MS / AUDIO_FRAME_MS;
        const packets = speechPackets(speech, 1000, 0x1234, framesPerPacket);
        packets.forEach((packet, i) => {
          client.send(packet);
          if (i === 30) client.send(JSON.stringify({ type: "text", text: "what's the weather?" }));
        });
        client.send(JSON.stringify({ type: "bye" }));
        const closed = await client.message("closed");
        // The edge's clock is stopped: micro-turns close as their audio completes.
        const speechFrames = Math.floor(speech.length / SAMPLES_PER_FRAME);
        const speechTurns = Math.ceil(speechFrames / FRAMES_PER_MICRO_TURN);
        const expectedTurns = closed.microTurns;
        assert.equal(expectedTurns, speechTurns);

        // Every micro-turn yields exactly one output, in order.
        const outputs = client.messages.filter((m) => m.type === "output");
        assert.deepEqual(outputs.map((o) => o.index), [...Array(expectedTurns).keys()]);
        assert.ok(
          client.messages.every((m) => m.type !== "error"),
          JSON.stringify(client.messages),
        );

        // The output audio is RTP carrying Opus that decodes to whole 20 ms frames. Micro-turns
        // the model kept silent carry none (silence is not encoded or sent). The audio was sent
        // faster than real time, so output came faster than it plays: the pacer kept the
        // newest and dropped the stale rest, leaving gaps in the sequence numbers.
        for (const output of outputs) {
          if (output.control === "silent") assert.equal(output.audioFrames, 0);
          assert.ok(output.audioFrames <= FRAMES_PER_MICRO_TURN);
        }
        const produced = outputs.reduce((sum, o) => sum + o.audioFrames, 0);
        assert.ok(produced > 0, "the model spoke");
        const { egress } = closed;
        // Packets of up to five frames (100 ms): each decodes to whole 20 ms frames.
        const decoder = new OpusDecoder();
        const framesOf = client.audio.map((packet) => {
          const samples = decoder.decode(packet.payload).length;
          assert.equal(samples % SAMPLES_PER_FRAME, 0);
          assert.ok(samples >= SAMPLES_PER_FRAME && samples <= 5 * SAMPLES_PER_FRAME);
          return samples / SAMPLES_PER_FRAME;
        });
        const sent = framesOf.reduce((sum, n) => sum + n, 0);
        assert.ok(client.audio.length < sent, "frames went several to a packet");
        assert.equal(
          sent + egress.droppedStale + egress.droppedBackpressure + egress.droppedLate,
          produced,
        );
        assert.equal(sent, egress.sentFrames);
        assert.equal(client.audio.length, egress.sentPackets);
        const newestCount = Math.min(25, produced);
        assert.ok(sent >= newestCount, "the newest 500 ms always goes out");
        const firstSeq = client.audio[0].sequenceNumber;
        const offsets = client.audio.map((p) => (p.sequenceNumber - firstSeq + 0x10000) & 0xffff);
        assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
        // The packets of the newest 500 ms follow one another: none of them was dropped.
        let newestPackets = 0;
        for (let frames = 0; frames < newestCount; newestPackets++) {
          frames += framesOf[framesOf.length - 1 - newestPackets];
        }
        const newest = offsets.slice(-newestPackets);
        assert.deepEqual(newest, newest.map((_, i) => newest[0] + i), "the newest 500 ms intact");
        decoder.close();
        assert.equal((await client.closedWith()).code, 1000);
        // The worker encoded the audio: the edge only framed it.
        const metrics = await (await fetch(`${system.url}/metrics`)).text();
        assert.match(metrics, /^edge_output_encoded_micro_turns_total 0$/m);
        // ... and timed each output's wait for it.
        const workerMetrics = await (await fetch(`${system.worker.url}/metrics`)).text();
        assert.match(
          workerMetrics,
          new RegExp(`^worker_output_encode_seconds_count ${outputs.length}$`, "m"),
        );

        // Everything is in the database once the edge has flushed.
        await system.close();
        const events = await new EventLog(db).read(sessionId);
        assert.deepEqual(events.map((e) => e.seq), [...Array(events.length).keys()]);
        assert.equal(events[0].kind, "session_opened");
        assert.equal(events.at(-1)!.kind, "session_closed");
        const turns = events.filter((e) => e.kind === "micro_turn");
        assert.deepEqual(turns.map((e) => e.microTurn), [...Array(expectedTurns).keys()]);
        const typed = events.filter((e) => e.kind === "user_text");
        assert.deepEqual(typed.map((e) => e.payload.text), ["what's the weather?"]);
        assert.equal(
          turns.filter((e) => (e.payload.input as { text: string }).text === "what's the weather?")
            .length,
          1,
        );

        // The edge heard the speech: loud blocks of the fixture are loud in the features.
        const rms = blockRms(speech);
        const levels = turns.slice(expectedTurns - speechTurns)
          .map((e) => (e.payload.input as { level: number }).level);
        for (let k = 0; k < speechTurns - 1; k++) {
          if (rms[k] > 500) {
            assert.ok(levels[k] > 1, `turn ${k}: rms ${rms[k]}, level ${levels[k]}`);
          }
          if (rms[k] < 30) {
            assert.ok(levels[k] < 0.5, `turn ${k}: rms ${rms[k]}, level ${levels[k]}`);
          }
        }
        assert.ok(correlation(rms.slice(0, levels.length), levels) > 0.8);
        const record = await new SessionStore(db).get(sessionId);
        assert.equal(record?.status, "active");
      } finally {
        await system.close();
        await db.close();
      }
    },
  });
}

Deno.test("a worker that sends PCM (one that does not encode, as an older one): the edge encodes, the client hears Opus all the same", async () => {
  const db = await TEST_DATABASE_TARGETS[0].open();
  const system = await startTestSystem(db, {
    clock: new ManualClock(Date.now()),
    config: { outputEncodeThreads: 0 },
  });
  try {
    const { client } = await ProtocolClient.open(system.url);
    for (const packet of speechPackets(speech.subarray(0, 16_000 * 3))) client.send(packet);
    client.send(JSON.stringify({ type: "bye" }));
    const closed = await client.message("closed");
    const outputs = client.messages.filter((m) => m.type === "output");
    assert.equal(outputs.length, closed.microTurns);
    assert.ok(outputs.some((o) => o.audioFrames > 0), "the model spoke");
    const decoder = new OpusDecoder();
    const sent = client.audio.reduce(
      (sum, packet) => sum + decoder.decode(packet.payload).length / SAMPLES_PER_FRAME,
      0,
    );
    decoder.close();
    assert.equal(sent, closed.egress.sentFrames);
    assert.equal(client.audio.length, closed.egress.sentPackets);
    const metrics = await (await fetch(`${system.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`^edge_output_encoded_micro_turns_total ${outputs.length}$`, "m"),
    );
    // The edge exports its event loop's lag (lib/event_loop_lag_test.ts tests the measuring).
    assert.match(metrics, /^process_event_loop_lag_seconds_count \d+$/m);
  } finally {
    await system.close();
    await db.close();
  }
});
