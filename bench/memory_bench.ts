/**
 * Where each role's resident memory goes, idle and per added session: every role started as
 * its own `main.ts` process (dev mode, PGlite in memory), its memory read from the kernel
 * (`/proc/PID/status` and `/proc/PID/smaps`, resident kB by mapping: the Deno binary,
 * each shared library, anonymous memory) and from V8 (`/metrics`' process_memory_bytes: heap
 * total and used, external ArrayBuffers), then again with `--sessions` sessions streaming the
 * speech fixture through an edge and its worker.
 *
 *   deno task bench:memory [--sessions=50] [--seconds=20]
 *
 * With `BENCH_DATABASE_URL` (a Postgres), an edge on it is read idle too: the difference from the
 * edge on PGlite is what the embedded database costs. Writes bench/results/memory.json.
 *
 * @module
 */
import { WebSocket as NodelayWebSocket } from "ws";
import {
  flag,
  numberFlag,
  reportedMemoryMiB,
  residentByMapping,
  residentMiB,
  writeResult,
} from "./bench_support.ts";
import { startRole } from "../tests/support/main_process.ts";
import { createSession, speechPackets } from "../tests/support/protocol_client.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { AUDIO_FRAME_MS, SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

/** One process's memory, MiB. */
interface MemoryReading {
  /** Resident, from the kernel. */
  rss: number;
  /** Resident by mapping (the largest, then `other`). */
  mappings: Record<string, number>;
  /** V8's view: heap reserved and used, ArrayBuffers outside it. */
  v8: Record<string, number>;
}

async function read(pid: number, url: string): Promise<MemoryReading> {
  const rss = Math.round((await residentMiB(pid)) * 10) / 10;
  const { rss: _, ...v8 } = await reportedMemoryMiB(url);
  return { rss, mappings: await residentByMapping(pid), v8 };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a role, lets it settle, reads it; the caller stops it. */
async function startAndRead(args: string[], env: Record<string, string> = {}) {
  const role = await startRole(args, { PGLITE_DIR: "memory://", ...env });
  await settle(3000);
  return { role, idle: await read(role.child.pid, role.url) };
}

async function stop(role: { child: Deno.ChildProcess }) {
  role.child.kill("SIGTERM");
  await role.child.status;
}

const sessions = numberFlag("sessions", 50);
const seconds = numberFlag("seconds", 20);
const model = flag("model") ?? "trained";
const result: Record<string, unknown> = { sessions, seconds, model };

// Idle, each role alone: the all-in-one process task start runs, a worker, an edge.
for (
  const [name, args] of [
    ["all", ["--role=all", `--model=${model}`]],
    ["worker", ["--role=worker", `--model=${model}`]],
  ] as const
) {
  const { role, idle } = await startAndRead([...args]);
  result[`${name}_idle`] = idle;
  console.log(name, "idle", JSON.stringify(idle));
  await stop(role);
}

// An edge and its worker, idle and then with sessions streaming the fixture in real time.
const { role: worker, idle: workerIdle } = await startAndRead([
  "--role=worker",
  `--model=${model}`,
]);
const { role: edge, idle: edgeIdle } = await startAndRead([
  "--role=edge",
  `--worker-url=${worker.linkUrl}`,
]);
result.edge_idle = edgeIdle;
console.log("edge idle", JSON.stringify(edgeIdle));
const databaseUrl = Deno.env.get("BENCH_DATABASE_URL");
if (databaseUrl) {
  const { role, idle } = await startAndRead(["--role=edge", `--worker-url=${worker.linkUrl}`], {
    DATABASE_URL: databaseUrl,
  });
  result.edge_postgres_idle = idle;
  console.log("edge on Postgres idle", JSON.stringify(idle));
  await stop(role);
}
const packets = speechPackets(loopSamples(speechFixture(), (seconds + 5) * SAMPLE_RATE_HZ));
const sockets = await Promise.all(Array.from({ length: sessions }, async () => {
  const session = await createSession(edge.url);
  const socket = new NodelayWebSocket(
    `${edge.url.replace("http", "ws")}/v1/sessions/${session.sessionId}/ws?token=${session.token}`,
  );
  await new Promise<void>((resolve, reject) => {
    socket.on("message", (data) => {
      if (String(data).includes('"ready"')) resolve();
    });
    socket.on("error", reject);
  });
  return socket;
}));
const began = performance.now();
for (let i = 0; i < (seconds * 1000) / AUDIO_FRAME_MS; i++) {
  for (const socket of sockets) socket.send(packets[i]);
  const due = began + (i + 1) * AUDIO_FRAME_MS;
  await settle(Math.max(0, due - performance.now()));
}
const edgeBusy = await read(edge.child.pid, edge.url);
const workerBusy = await read(worker.child.pid, worker.url);
for (const socket of sockets) socket.close();
await settle(3000);
const edgeAfter = await read(edge.child.pid, edge.url);
const perSession = (busy: MemoryReading, idle: MemoryReading) =>
  Math.round(((busy.rss - idle.rss) / sessions) * 100) / 100;
Object.assign(result, {
  edge_with_sessions: edgeBusy,
  edge_after_sessions: edgeAfter,
  worker_idle: workerIdle,
  worker_with_sessions: workerBusy,
  edge_mib_per_session: perSession(edgeBusy, edgeIdle),
  worker_mib_per_session: perSession(workerBusy, workerIdle),
});
console.log(JSON.stringify(result, null, 2));
await stop(edge);
await stop(worker);
await writeResult("memory.json", result);
