/**
 * Session-store benchmark, on a real Postgres when one is configured (BENCH_DATABASE_URL,
 * TEST_DATABASE_URL or DATABASE_URL), else on embedded PGlite. Writes
 * bench/results/sessions.json.
 *
 * - Event-log writes: `--sessions` (1000) sessions each append 5 events a second for
 *   `--seconds` (10) through the edge's batched event log. `events_per_s` is the durable
 *   throughput; `write_p99_ms` is the p99 from append to durable (what an acknowledgement waits
 *   for: up to the 200 ms batching interval plus the write).
 * - Resume: what an edge does to take a session with 10k events and a compaction: claim its
 *   lease, continue its log, read its context (compaction + events since). p50/p99 of 30.
 * - Compaction: summarizing a session's 10k uncompacted events (median of 3).
 *
 *   deno task bench:sessions [--sessions=1000] [--seconds=10]
 *
 * @module
 */
import { numberFlag, quantile, writeResult } from "./bench_support.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { EventLog } from "../store/event_log.ts";
import { SessionStore } from "../store/session_store.ts";
import { SessionLeases } from "../store/session_leases.ts";
import { CompactionStore, ExtractiveSummarizer, sessionContext } from "../store/compactions.ts";

const sessionCount = numberFlag("sessions", 1000);
const seconds = numberFlag("seconds", 10);
const url = Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL") ??
  Deno.env.get("DATABASE_URL");

const schema = `bench_${crypto.randomUUID().replaceAll("-", "")}`;
let db = await openDatabase(url ? { url } : { pgliteDataDir: "memory://" });
if (url) {
  await db.exec(`create schema ${schema}`);
  await db.close();
  db = await openDatabase({ url, schema });
}
await migrate(db);
const round = (x: number) => Number(x.toFixed(2));

// ---- 1. Concurrent writes ---------------------------------------------------------------
const sessions = new SessionStore(db);
const ids: string[] = [];
for (let i = 0; i < sessionCount; i++) {
  ids.push((await sessions.create({ region: "b", model: "m" })).id);
}
const log = new EventLog(db);
for (const id of ids) await log.open(id);
const latencies: number[] = [];
const durable: Promise<void>[] = [];
const start = performance.now();
const perSessionMs = 200; // 5 events a second
const next = ids.map((_, i) => start + (i / ids.length) * perSessionMs);
while (performance.now() - start < seconds * 1000) {
  const now = performance.now();
  ids.forEach((id, i) => {
    while (next[i] <= now) {
      const appendedAt = performance.now();
      const seq = log.append(id, {
        kind: "user_text",
        wallTime: new Date(),
        payload: { text: "a sentence of about this length, typed by the user" },
      });
      durable.push(
        log.whenDurable(id, seq).then(() => {
          latencies.push(performance.now() - appendedAt);
        }),
      );
      next[i] += perSessionMs;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await log.close();
await Promise.all(durable);
const wallSeconds = (performance.now() - start) / 1000;
const written = latencies.length;
console.log(`writes: ${written} events in ${wallSeconds.toFixed(1)} s`);

// ---- 2. Resume and compaction ------------------------------------------------------------
async function sessionWithEvents(count: number): Promise<string> {
  const { id } = await sessions.create({ region: "b", model: "m" });
  const writer = new EventLog(db);
  await writer.open(id);
  for (let i = 0; i < count; i++) {
    if (i % 20 === 0) {
      writer.append(id, {
        kind: "user_text",
        wallTime: new Date(),
        payload: { text: `line ${i}` },
      });
    } else {
      writer.append(id, {
        kind: "micro_turn",
        microTurn: i,
        wallTime: new Date(),
        payload: { input: { level: 1 }, output: { text: i % 7 ? "" : "ok" } },
      });
    }
  }
  await writer.close();
  return id;
}
const compactions = new CompactionStore(db);
const summarizer = new ExtractiveSummarizer();
const compactionMs: number[] = [];
let resumeId = "";
for (let i = 0; i < 3; i++) {
  const id = await sessionWithEvents(10_000);
  const started = performance.now();
  await compactions.compact(id, summarizer, 64);
  compactionMs.push(performance.now() - started);
  resumeId = id;
}
const leases = new SessionLeases(db, "bench-edge", 15_000);
const resumeLog = new EventLog(db);
const resumeMs: number[] = [];
for (let i = 0; i < 30; i++) {
  const started = performance.now();
  if (!await leases.claim(resumeId, Date.now())) throw new Error("lease not claimed");
  await resumeLog.open(resumeId);
  await sessionContext(compactions, resumeId, 4096);
  resumeMs.push(performance.now() - started);
  resumeLog.release(resumeId);
  await leases.release(resumeId);
}

const result = {
  postgres: Boolean(url),
  engine: db.engine,
  concurrent_sessions: sessionCount,
  events_per_s: round(written / wallSeconds),
  write_p99_ms: round(quantile(latencies, 0.99)),
  write_p50_ms: round(quantile(latencies, 0.5)),
  resume_p50_ms: round(quantile(resumeMs, 0.5)),
  resume_p99_ms: round(quantile(resumeMs, 0.99)),
  resume_session_events: 10_000,
  compaction_ms: round(quantile(compactionMs, 0.5)),
  compaction_events: 10_000,
};
console.log(JSON.stringify(result, null, 2));
if (url) await db.exec(`drop schema ${schema} cascade`).catch(() => {});
await db.close();
await writeResult("sessions.json", result);
