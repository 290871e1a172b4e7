/**
 * The soak: one edge outside dev mode (its own process, operator key, token and worker secrets,
 * limits raised so the soak's one address is not rate-limited) under `--connections` (200)
 * connections for `--seconds` (180): `--valid` (20) sessions stream the speech fixture in real
 * time throughout, while the rest cycle through abuse: garbage binary and text, oversized
 * messages, forged and expired tokens, unknown sessions, oversized HTTP bodies, and sessions
 * opened then cut off without a close. A scripted worker (bench/scripted_worker.ts) behind the
 * real, secret-guarded link answers. Measures the valid sessions' micro-turn rate while it
 * lasts (5 a second is every micro-turn), the edge's resident memory before the abuse and after
 * it stops (after a settle), and whether the edge process died. Writes the soak fields of
 * bench/results/security.json. The edge logs to `BENCH_DATABASE_URL`'s Postgres when set (as
 * deployments do), else to PGlite in its own process.
 *
 *   BENCH_DATABASE_URL=postgres://... deno task soak [--seconds=180] [--connections=200]
 *     [--valid=20] [--settle-seconds=60] [--kinds=0,1,2,3,4,5] [--edge-deno-flags=...]
 *     [--inspect-port=9229]
 *
 * With `--inspect-port` the edge runs with its V8 inspector there, and at the end the bench asks
 * it for a full garbage collection and reads the memory again: what stays is still referenced.
 *
 * @module
 */
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";
import { EDGE_V8_FLAGS } from "../edge/edge_v8_flags.ts";
import {
  flag,
  mergeResult,
  numberFlag,
  reportedMemoryMiB,
  residentByMapping,
  residentMiB,
} from "./bench_support.ts";
import { ScriptedRuntime } from "./scripted_worker.ts";
import { collectGarbage } from "./v8_inspector.ts";
import { serveWorkerLink } from "../routes/worker_link_route.ts";
import { startRole } from "../tests/support/main_process.ts";
import { createSession as createWith, speechPackets } from "../tests/support/protocol_client.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { ApiKeyStore } from "../store/api_keys.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { AUDIO_FRAME_MS } from "../protocol/media_format.ts";

const seconds = numberFlag("seconds", 180);
const connections = numberFlag("connections", 200);
const validCount = numberFlag("valid", 20);
/** Which abuses run (`--kinds=0,3`), by their number in {@linkcode abuser}; default all six. */
const kinds = (flag("kinds") ?? "0,1,2,3,4,5").split(",").map(Number);
const SETTLE_MS = numberFlag("settle-seconds", 60) * 1000;
const inspectPort = flag("inspect-port");
const WARMUP_MS = 10_000;
const random = seededRandom(7);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Postgres as deployments run it (BENCH_DATABASE_URL), else PGlite in the edge's process; the key
// is made before the edge opens the database (PGlite: one process at a time).
const databaseUrl = Deno.env.get("BENCH_DATABASE_URL");
const pgliteDir = await Deno.makeTempDir();
const db = await openDatabase({ url: databaseUrl, pgliteDataDir: pgliteDir });
await migrate(db);
const { key } = await new ApiKeyStore(db).create({
  name: "soak",
  owner: "soak",
  scopes: ["sessions:create", "sessions:delete"],
});
await db.close();

const workerSecret = crypto.randomUUID() + crypto.randomUUID();
const worker = serveWorkerLink(new ScriptedRuntime(), "127.0.0.1", workerSecret);
const edge = await startRole([
  "--dev-mode=false",
  "--role=edge",
  `--worker-url=${worker.linkUrl}`,
  "--resume-window-seconds=2",
  "--session-creates-per-minute=0",
  "--connects-per-minute=0",
  "--max-sessions-per-owner=0",
], {
  ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { PGLITE_DIR: pgliteDir }),
  TOKEN_SECRET: crypto.randomUUID() + crypto.randomUUID(),
  WORKER_SECRET: workerSecret,
  DENO_V8_FLAGS: EDGE_V8_FLAGS,
}, {
  denoFlags: [
    ...(flag("edge-deno-flags")?.split(" ") ?? []),
    ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
  ],
});
let stopping = false;
let died = false;
edge.child.status.then(() => {
  if (!stopping) died = true;
});
const wsUrl = edge.url.replace("http", "ws");
const createSession = () => createWith(edge.url, key);
const edgeMiB = () => residentMiB(edge.child.pid);

/** Opens a session's socket; resolves once `ready` came (or rejects when it closed first). */
function open(session: { sessionId: string; token: string }, token = session.token) {
  const socket = new NodelayWebSocket(
    `${wsUrl}/v1/sessions/${session.sessionId}/ws?token=${token}`,
  );
  socket.binaryType = "arraybuffer";
  const ready = new Promise<void>((resolve, reject) => {
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string" && event.data.includes('"ready"')) resolve();
    });
    socket.addEventListener("close", () => reject(new Error("closed before ready")));
    socket.addEventListener("error", () => reject(new Error("socket error")));
  });
  ready.catch(() => {});
  return { socket, ready };
}

// Valid sessions: the speech fixture in real time; their outputs counted.
const packets = speechPackets(loopSamples(speechFixture(), 40 * 16000));
const outputs = new Array<number[]>(validCount).fill([]).map(() => [] as number[]);
let measuring = false;
const valid = await Promise.all(Array.from({ length: validCount }, async (_, v) => {
  const { socket, ready } = open(await createSession());
  socket.addEventListener("message", (event) => {
    if (measuring && typeof event.data === "string" && event.data.includes('"output"')) {
      outputs[v].push(performance.now());
    }
  });
  await ready;
  return socket;
}));
const validPacer = (async () => {
  const t0 = performance.now();
  for (let i = 0; !stopping; i++) {
    const wait = t0 + i * AUDIO_FRAME_MS - performance.now();
    if (wait > 0) await sleep(wait);
    for (const socket of valid) {
      if (socket.readyState === NodelayWebSocket.OPEN) socket.send(packets[i % packets.length]);
    }
  }
})();

await sleep(WARMUP_MS);
const rssStart = await edgeMiB();
const memoryAtStart = await reportedMemoryMiB(edge.url);
const mappingsAtStart = await residentByMapping(edge.child.pid);

/** One abuser: loops over the abuses until the soak ends. */
async function abuser(): Promise<void> {
  while (measuring) {
    const kind = kinds[Math.floor(random() * kinds.length)];
    try {
      if (kind === 0 || kind === 1) {
        // A live session fed garbage binary (random bytes, truncated RTP, oversize) or text.
        const { socket, ready } = open(await createSession());
        await ready;
        for (let i = 0; i < 20 && socket.readyState === NodelayWebSocket.OPEN; i++) {
          if (kind === 0) {
            const size = random() < 0.1 ? 80_000 : Math.floor(random() * 300);
            socket.send(crypto.getRandomValues(new Uint8Array(Math.min(size, 65536))));
            if (size > 65536) socket.send(new Uint8Array(size));
          } else {
            socket.send(random() < 0.5 ? "{not json" : JSON.stringify({ type: "nope", x: [1] }));
          }
          await sleep(20);
        }
        socket.close();
      } else if (kind === 2) {
        // Forged and foreign tokens, unknown sessions.
        const session = await createSession();
        const forged = open(session, session.token.slice(0, -4) + "AAAA");
        await forged.ready.catch(() => {});
        const unknown = open({ sessionId: crypto.randomUUID(), token: session.token });
        await unknown.ready.catch(() => {});
        forged.socket.terminate();
        unknown.socket.terminate();
      } else if (kind === 3) {
        // Opened, some audio, then cut off without a close.
        const { socket, ready } = open(await createSession());
        await ready;
        for (let i = 0; i < Math.floor(random() * 50); i++) {
          socket.send(packets[i]);
          await sleep(AUDIO_FRAME_MS);
        }
        socket.terminate();
      } else if (kind === 4) {
        // An oversized body, then one that is not JSON.
        const big = await fetch(`${edge.url}/v1/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: new Uint8Array(2 ** 20),
        });
        await big.body?.cancel();
        const bad = await fetch(`${edge.url}/v1/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: "{",
        });
        await bad.body?.cancel();
      } else {
        // No credential at all.
        const anonymous = await fetch(`${edge.url}/v1/sessions`, { method: "POST" });
        await anonymous.body?.cancel();
      }
    } catch {
      // Refusals are the point; the edge staying up is what is measured.
    }
    await sleep(random() * 200);
  }
}

measuring = true;
const chaosStart = performance.now();
const abusers = Array.from({ length: connections - validCount }, abuser);
// Resident memory every 10 s, through the abuse and the settle after it.
const rssSamples: number[] = [];
const sampler = setInterval(async () => rssSamples.push(Math.round(await edgeMiB())), 10_000);
await sleep(seconds * 1000);
measuring = false;
const chaosSeconds = (performance.now() - chaosStart) / 1000;
await Promise.all(abusers);
await sleep(SETTLE_MS);
clearInterval(sampler);
const rssEnd = await edgeMiB();
const memory = await reportedMemoryMiB(edge.url);
const mappingsAtEnd = await residentByMapping(edge.child.pid);
let afterGc:
  | { rss_mb: number; memory_mb: Record<string, number>; mappings_mb: Record<string, number> }
  | undefined;
if (inspectPort) {
  await collectGarbage(`http://127.0.0.1:${inspectPort}`);
  afterGc = {
    rss_mb: Math.round(await edgeMiB()),
    memory_mb: await reportedMemoryMiB(edge.url),
    mappings_mb: await residentByMapping(edge.child.pid),
  };
}
stopping = true;
await validPacer;
for (const socket of valid) socket.close();
const rates = outputs.map((times) => times.length / chaosSeconds);
const rate = rates.reduce((a, b) => a + b, 0) / rates.length;
edge.child.kill("SIGTERM");
await edge.child.status;
await worker.close();
const round = (x: number) => Number(x.toFixed(2));
const soak = {
  soak_seconds: round(chaosSeconds),
  soak_connections: connections,
  soak_valid_sessions: validCount,
  soak_valid_session_microturn_rate: round(rate),
  soak_valid_session_microturn_rate_min: round(Math.min(...rates)),
  rss_start_mb: round(rssStart),
  rss_end_mb: round(rssEnd),
  rss_every_10s_mb: rssSamples,
  memory_at_start_mb: memoryAtStart,
  memory_at_end_mb: memory,
  mappings_at_start_mb: mappingsAtStart,
  mappings_at_end_mb: mappingsAtEnd,
  ...(afterGc ? { after_full_gc: afterGc } : {}),
  process_deaths: died ? 1 : 0,
};
console.log(soak);
await mergeResult("security.json", soak);
if (!databaseUrl) await Deno.remove(pgliteDir, { recursive: true });
