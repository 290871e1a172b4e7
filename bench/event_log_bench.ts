/**
 * The event log's cost to the edge: CPU milliseconds (this process, every thread) to write one
 * flush of micro-turn events, as an edge at `--sessions` sessions writes every 200 ms (one
 * `micro_turn` event a session, the payload an edge records), against the Postgres at
 * `BENCH_DATABASE_URL`. The edge runs this on the core that carries its sessions' audio, so
 * a flush's CPU is time every session waits behind. Writes bench/results/event-log.json.
 *
 *   BENCH_DATABASE_URL=postgres://ci:ci@127.0.0.1:5432/ci deno task bench:eventlog \
 *     [--sessions=100] [--flushes=100]
 *
 * @module
 */
import process from "node:process";
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { EventLog } from "../store/event_log.ts";
import { SessionStore } from "../store/session_store.ts";
import { MICRO_TURN_MS } from "../protocol/media_format.ts";

const sessions = numberFlag("sessions", 100);
const flushes = numberFlag("flushes", 100);
/** The first flushes warm the JIT and the connection pool; not counted. */
const WARMUP_FLUSHES = 10;
const databaseUrl = Deno.env.get("BENCH_DATABASE_URL");
if (!databaseUrl) {
  console.error("bench:eventlog needs a Postgres: set BENCH_DATABASE_URL");
  Deno.exit(2);
}

const db = await openDatabase({ url: databaseUrl });
await migrate(db);
const store = new SessionStore(db);
const log = new EventLog(db, { flushIntervalMs: 3_600_000 });
const ids: string[] = [];
for (let i = 0; i < sessions; i++) {
  const { id } = await store.create({ region: "bench", model: "bench" });
  await log.open(id);
  ids.push(id);
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const cpu: number[] = [];
const wall: number[] = [];
for (let flush = 0; flush < WARMUP_FLUSHES + flushes; flush++) {
  for (const id of ids) {
    log.append(id, {
      kind: "micro_turn",
      microTurn: flush,
      mediaTimeMs: flush * MICRO_TURN_MS,
      wallTime: new Date(),
      payload: {
        input: { flags: 0, text: "", level: 3.17 },
        output: { control: "speak", text: "hello", stepMs: 12.5 },
      },
    });
  }
  const cpuStart = cpuMs();
  const wallStart = performance.now();
  await log.flush();
  if (flush < WARMUP_FLUSHES) continue;
  cpu.push(cpuMs() - cpuStart);
  wall.push(performance.now() - wallStart);
}
await db.query("delete from sessions where id = any($1::uuid[])", [ids]);
await log.close();
await db.close();

const round = (x: number) => Math.round(x * 100) / 100;
const result = {
  machine: machineDescription(),
  sessions,
  flushes,
  rows_per_flush: sessions,
  cpu_ms_per_flush_p50: round(quantile(cpu, 0.5)),
  cpu_ms_per_flush_p90: round(quantile(cpu, 0.9)),
  wall_ms_per_flush_p50: round(quantile(wall, 0.5)),
  cpu_ms_per_session_second: round((quantile(cpu, 0.5) * (1000 / MICRO_TURN_MS)) / sessions),
};
console.log(JSON.stringify(result, null, 2));
await writeResult("event-log.json", result);
