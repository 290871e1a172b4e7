/**
 * Round-trip benchmark of the whole system on this machine: N clients stream the speech
 * fixture in real time (one 20 ms RTP packet every 20 ms) through edge, worker link and the
 * minimal model; per micro-turn we time from sending its last audio packet to receiving its
 * `output` message. That is the system's own share of response latency over loopback.
 * Writes bench/results/round-trip.json.
 *
 *   deno task bench [--sessions=20] [--seconds=10]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { startTestSystem } from "../tests/support/test_system.ts";
import { createSession, ProtocolClient, speechPackets } from "../tests/support/protocol_client.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const sessions = numberFlag("sessions", 20);
const seconds = numberFlag("seconds", 10);

const speech = speechFixture();
const turns = Math.floor((seconds * 1000) / AUDIO_FRAME_MS / FRAMES_PER_MICRO_TURN);
/** The fixture repeated to the run's length, so sequence numbers and timestamps keep rising. */
const packets = speechPackets(
  loopSamples(speech, turns * FRAMES_PER_MICRO_TURN * SAMPLES_PER_FRAME),
);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function streamOneSession(system: { url: string }, offsetMs: number): Promise<number[]> {
  const { sessionId, token } = await createSession(system.url);
  const client = await ProtocolClient.connect(system.url, sessionId, token);
  await client.message("ready");
  await sleep(offsetMs);
  const sentAt: number[] = [];
  const start = performance.now();
  for (let i = 0; i < turns * FRAMES_PER_MICRO_TURN; i++) {
    await sleep(start + i * AUDIO_FRAME_MS - performance.now());
    client.send(packets[i]);
    if (i % FRAMES_PER_MICRO_TURN === FRAMES_PER_MICRO_TURN - 1) sentAt.push(performance.now());
  }
  await client.message("output", (o) => o.index === turns - 1);
  const latencies = client.messages.flatMap((m, i) =>
    m.type === "output" ? [client.arrivals[i] - sentAt[m.index]] : []
  );
  client.close();
  await client.closedWith();
  return latencies;
}

const db = await openDatabase({ pgliteDataDir: "memory://" });
await migrate(db);
const system = await startTestSystem(db);
const wallStart = performance.now();
const perSession = await Promise.all(
  Array.from(
    { length: sessions },
    (_, s) => streamOneSession(system, (s * AUDIO_FRAME_MS) / sessions),
  ),
);
const wallSeconds = (performance.now() - wallStart) / 1000;
await system.close();
await db.close();

const all = perSession.flat().sort((a, b) => a - b);
const result = {
  machine: machineDescription(),
  sessions,
  micro_turns: all.length,
  expected_micro_turns: sessions * turns,
  round_trip_p50_ms: Number(quantile(all, 0.5).toFixed(2)),
  round_trip_p99_ms: Number(quantile(all, 0.99).toFixed(2)),
  round_trip_max_ms: Number(all.at(-1)!.toFixed(2)),
  wall_seconds: Number(wallSeconds.toFixed(1)),
};
console.log(JSON.stringify(result, null, 2));
await writeResult("round-trip.json", result);
