/**
 * The worker pool under failure, as separate processes over real sockets on a real Postgres: 3
 * workers (`main.ts --role=worker`, heartbeating into the registry) and one edge placing sessions
 * on them; N clients stream the speech fixture in real time. A third of the way in, the worker
 * holding the most sessions is killed (SIGKILL); two thirds in, another is stopped (SIGTERM, its
 * drain). Measures, per moved session, the longest wait between two outputs as the client saw
 * it (the failover gap); errors any client got; how evenly the sessions were first placed; and
 * whether every acknowledged input is in the event log. Writes bench/results/pool.json.
 *
 *   BENCH_DATABASE_URL=postgres://... deno task bench:pool [--sessions=30] [--seconds=12]
 *
 * @module
 */
import { numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { createSession, ProtocolClient, speechPackets } from "../tests/support/protocol_client.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { EventLog } from "../store/event_log.ts";
import { startRole } from "../tests/support/main_process.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const sessions = numberFlag("sessions", 30);
const seconds = numberFlag("seconds", 12);
const url = Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL");
if (!url) {
  console.error("bench:pool needs a Postgres the processes share: set BENCH_DATABASE_URL");
  Deno.exit(2);
}
const env = { DATABASE_URL: url, TOKEN_SECRET: "pool-bench-secret-0123456789" };
const FIRST_SEQUENCE = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const db = await openDatabase({ url });
await migrate(db);
await db.query("delete from workers");
const workers = [];
for (let i = 0; i < 3; i++) {
  workers.push(
    await startRole([
      "--role=worker",
      "--region=eu",
      `--worker-id=bench-w${i}`,
      "--worker-capacity=64",
      "--worker-heartbeat-seconds=0.5",
    ], env),
  );
}
const edge = await startRole(
  ["--role=edge", "--region=eu", "--worker-heartbeat-seconds=0.5"],
  env,
);

const turns = Math.floor((seconds * 1000) / AUDIO_FRAME_MS / FRAMES_PER_MICRO_TURN);
const packets = speechPackets(
  loopSamples(speechFixture(), turns * FRAMES_PER_MICRO_TURN * SAMPLES_PER_FRAME),
);
const opened = [];
for (let s = 0; s < sessions; s++) {
  const { sessionId, token } = await createSession(edge.url);
  const client = await ProtocolClient.connect(edge.url, sessionId, token);
  await client.message("ready");
  opened.push({ sessionId, client });
}
const sessionsOn = async (w: { url: string }) =>
  (await (await fetch(`${w.url}/healthz`)).json()).sessions as number;
const placed = await Promise.all(workers.map(sessionsOn));

const start = performance.now();
const killAt = start + (seconds * 1000) / 3;
const stopAt = start + (2 * seconds * 1000) / 3;
const disruptions = (async () => {
  await sleep(killAt - performance.now());
  const killed = workers[placed.indexOf(Math.max(...placed))];
  killed.child.kill("SIGKILL");
  await sleep(stopAt - performance.now());
  const stopped = workers.find((w) => w !== killed)!;
  stopped.child.kill("SIGTERM");
  return { killed, stopped };
})();
await Promise.all(opened.map(async ({ client }, s) => {
  const offset = (s * AUDIO_FRAME_MS) / sessions;
  for (let i = 0; i < packets.length; i++) {
    await sleep(start + offset + i * AUDIO_FRAME_MS - performance.now());
    client.send(packets[i]);
  }
}));
const { killed, stopped } = await disruptions;
await sleep(1000); // the last outputs and acknowledgements
for (const { client } of opened) client.send(JSON.stringify({ type: "bye" }));
await Promise.all(opened.map(({ client }) => client.message("closed").catch(() => undefined)));
edge.child.kill("SIGTERM");
await edge.child.status;
for (const w of workers) {
  try {
    w.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await w.child.status;
}

const log = new EventLog(db);
const gaps = { killed: [] as number[], stopped: [] as number[] };
let errors = 0;
let drainErrors = 0;
let lostAcked = 0;
for (const { sessionId, client } of opened) {
  const sessionErrors = client.messages.filter((m) => m.type === "error").length;
  errors += sessionErrors;
  const events = await log.read(sessionId);
  const logged = new Set(events.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn));
  const acked = client.messages.findLast((m) => m.type === "ack")?.sequence;
  if (acked !== undefined) {
    const lastTurn = Math.floor((acked - FIRST_SEQUENCE) / FRAMES_PER_MICRO_TURN);
    for (let t = 0; t < lastTurn; t++) if (!logged.has(t)) lostAcked++;
  }
  const outputs = client.messages.flatMap((m, i) =>
    m.type === "output" ? [client.arrivals[i]] : []
  );
  const longestGap = outputs.slice(1).reduce((gap, at, i) => Math.max(gap, at - outputs[i]), 0);
  for (const move of events.filter((e) => e.kind === "worker_moved")) {
    if (move.payload.from === killed.linkUrl) gaps.killed.push(longestGap);
    if (move.payload.from === stopped.linkUrl) {
      gaps.stopped.push(longestGap);
      drainErrors += sessionErrors;
    }
  }
}
await db.close();

const ms = (values: number[], q: number) =>
  values.length ? Number(quantile(values.sort((a, b) => a - b), q).toFixed(0)) : null;
const result = {
  machine: `${Deno.build.os}-${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
  workers: workers.length,
  sessions,
  seconds,
  placement: placed,
  placement_imbalance: Math.max(...placed) - Math.min(...placed),
  moved_after_kill: gaps.killed.length,
  failover_gap_p50_ms: ms(gaps.killed, 0.5),
  failover_gap_p99_ms: ms(gaps.killed, 0.99),
  moved_after_drain: gaps.stopped.length,
  drain_gap_p50_ms: ms(gaps.stopped, 0.5),
  drain_gap_p99_ms: ms(gaps.stopped, 0.99),
  drain_session_errors: drainErrors,
  session_errors: errors,
  lost_acked_inputs: lostAcked,
};
console.log(JSON.stringify(result, null, 2));
await writeResult("pool.json", result);
