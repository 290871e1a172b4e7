/**
 * The worker pool under failure, as separate processes over real sockets on a real Postgres: 3
 * workers and 2 edges (`--edges`; tests/support/process_pool.ts); N clients, spread over the edges,
 * stream the speech fixture in real time. A third of the way in, the worker holding the most
 * sessions is killed (SIGKILL); two thirds in, another is stopped (SIGTERM, its drain).
 * Measures, per moved session, the longest wait between two outputs as the client saw it (the
 * failover gap) and the edge's own time to move it (link lost to opened elsewhere, from the
 * log); the recent micro-turns replayed into each moved context; errors any client got; how
 * evenly the sessions were first placed; and whether every acknowledged input is in the event
 * log. Writes bench/results/pool.json.
 *
 *   BENCH_DATABASE_URL=postgres://... deno task bench:pool [--sessions=30] [--seconds=12] [--edges=2]
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { speechPackets } from "../tests/support/protocol_client.ts";
import {
  auditSessions,
  openSessions,
  sessionsOn,
  sleep,
  startProcessPool,
  streamInRealTime,
} from "../tests/support/process_pool.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const sessions = numberFlag("sessions", 30);
const seconds = numberFlag("seconds", 12);
const edges = numberFlag("edges", 2);
const url = Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL");
if (!url) {
  console.error("bench:pool needs a Postgres the processes share: set BENCH_DATABASE_URL");
  Deno.exit(2);
}
const FIRST_SEQUENCE = 1000;

const db = await openDatabase({ url });
await migrate(db);
await db.query("delete from workers");
const pool = await startProcessPool({
  databaseUrl: url,
  workers: 3,
  edges,
  workerCapacity: 64,
  heartbeatSeconds: 0.5,
});
const turns = Math.floor((seconds * 1000) / AUDIO_FRAME_MS / FRAMES_PER_MICRO_TURN);
const packets = speechPackets(
  loopSamples(speechFixture(), turns * FRAMES_PER_MICRO_TURN * SAMPLES_PER_FRAME),
);
const opened = await openSessions(pool.edges, sessions);
const placed = await Promise.all(pool.workers.map(sessionsOn));

const start = performance.now();
const killed = pool.workers[placed.indexOf(Math.max(...placed))];
const stopped = pool.workers.find((w) => w !== killed)!;
const disruptions = (async () => {
  await sleep(start + (seconds * 1000) / 3 - performance.now());
  killed.child.kill("SIGKILL");
  await sleep(start + (2 * seconds * 1000) / 3 - performance.now());
  stopped.child.kill("SIGTERM");
})();
await streamInRealTime(opened, packets, start);
await disruptions;
await pool.stop();

const audits = await auditSessions(db, opened, FIRST_SEQUENCE);
await db.close();

const moves = audits.flatMap((a) => a.moves);
const moveMs = (linkUrl: string) => moves.filter((m) => m.from === linkUrl).map((m) => m.gapMs);
const movedFrom = (linkUrl: string) =>
  audits.filter((a) => a.moves.some((m) => m.from === linkUrl));
const ms = (values: number[], q: number) =>
  values.length ? Number(quantile(values.sort((a, b) => a - b), q).toFixed(0)) : null;
const gaps = (linkUrl: string) => movedFrom(linkUrl).map((a) => a.longestOutputGapMs);
const replayed = moves.map((m) => m.replayedMicroTurns);
const result = {
  machine: machineDescription(),
  workers: pool.workers.length,
  edges: pool.edges.length,
  sessions,
  seconds,
  placement: placed,
  placement_imbalance: Math.max(...placed) - Math.min(...placed),
  moved_after_kill: movedFrom(killed.linkUrl).length,
  failover_gap_p50_ms: ms(gaps(killed.linkUrl), 0.5),
  failover_gap_p99_ms: ms(gaps(killed.linkUrl), 0.99),
  failover_move_p50_ms: ms(moveMs(killed.linkUrl), 0.5),
  failover_move_p99_ms: ms(moveMs(killed.linkUrl), 0.99),
  moved_after_drain: movedFrom(stopped.linkUrl).length,
  drain_gap_p50_ms: ms(gaps(stopped.linkUrl), 0.5),
  drain_gap_p99_ms: ms(gaps(stopped.linkUrl), 0.99),
  drain_move_p50_ms: ms(moveMs(stopped.linkUrl), 0.5),
  drain_move_p99_ms: ms(moveMs(stopped.linkUrl), 0.99),
  replayed_micro_turns_p50: ms(replayed, 0.5),
  drain_session_errors: movedFrom(stopped.linkUrl).reduce((n, a) => n + a.errors.length, 0),
  session_errors: audits.reduce((n, a) => n + a.errors.length, 0),
  lost_acked_inputs: audits.reduce((n, a) => n + a.lostAcknowledged, 0),
  numbering_broken: audits.filter((a) => !a.numberingContinuous).length,
};
console.log(JSON.stringify(result, null, 2));
await writeResult("pool.json", result);
