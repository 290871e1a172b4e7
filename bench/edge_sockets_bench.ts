/**
 * The edge over real sockets, as a deployment runs it: the edge is its own process pinned to
 * one core (`taskset`, core 0 unless `--edge-cpu`); the clients and a scripted worker
 * (bench/scripted_worker.ts: the real worker link, no model) run in this process on the other
 * cores, so they never take the edge's CPU. Each client streams the speech fixture (its real talk and silence) as RTP/Opus
 * packets in real time, 100 ms a packet as the SDK sends them (`--packet-ms=20` for WebRTC's
 * 20 ms), each sent when its last frame is captured; the scripted model speaks about half the
 * time, its speech
 * Opus-encoded on the worker link's encoder thread as a real worker's is (the edge only frames
 * it). The edge logs to
 * the Postgres at `BENCH_DATABASE_URL` (as every edge of a pool does). Writes
 * bench/results/edge-sockets.json.
 *
 * Per micro-turn, on this process's clock (ms):
 * - assembly lag: the worker receives micro-turn k minus the client sending its last packet
 *   (socket in, jitter buffer, Opus decode, dMel, assembly, link out);
 * - round trip: the client receives `output` k minus the same send;
 * - overhead: the round trip minus the model step (the time the micro-turn spent in the
 *   scripted worker: nothing, or the wait for its step with `--worker-step-ms`) minus the
 *   deliberate waits. Micro-turn accumulation is excluded by timing from the last
 *   packet; the jitter target adds nothing on loopback, where a micro-turn closes as soon as
 *   its last packet arrives (its audio is complete).
 * - worker encode: the worker link encoding output k's first audio frames (its encoder threads'
 *   queue included), from the scripted worker answering to the link sending it. A real worker
 *   encodes on its own host's cores; here the encoder thread shares the clients' core.
 * - egress lag: the client receives `output` k minus the worker link taking it to send (the
 *   link, where it waits for the others its event loop's turn batches with it, the edge, socket
 *   out): the overhead's way back.
 * - overhead without the worker's encode: the overhead less the worker encode, what the edge
 *   and the sockets add.
 *
 * Two modes:
 * - `--sessions=100` (default): one run; `overhead_p50_ms` / `overhead_p99_ms`.
 * - `--worker-step-ms=N` (default 0): the scripted worker answers in steps N ms apart, every
 *   micro-turn that arrived since at once, as a real worker steps all its sessions together
 *   (its outputs then reach the edge in one burst); 0 answers each micro-turn as it arrives.
 * - `--capacity`: sessions grow from `--from` by `--by` (default 50, 100, 150...) until the
 *   p99 assembly lag passes 10 ms; `sessions_per_core` is the largest count below it. Each
 *   step starts a fresh edge.
 * Both report the edge's CPU per session-second and resident memory (idle, and per session).
 * Each session count runs `--rounds` times (default 3), each with a fresh edge; every figure is
 * the median of the rounds (their own results are kept beside it), since one run's p99 on a
 * shared VM swings by half.
 *
 *   BENCH_DATABASE_URL=postgres://ci:ci@127.0.0.1:5432/ci deno task bench:sockets \
 *     [--sessions=100] [--capacity [--from=50] [--by=50]] [--seconds=10] [--rounds=3] \
 *     [--packet-ms=100] [--edge-cpu=0] \
 *     [--edge-v8-flags=...] [--edge-deno-flags=...]
 *
 * `--edge-cpu` picks the edge's core (on a many-core host, one that takes few interrupts); this
 * process keeps off it and off its hyper-thread siblings. bench/device/ runs it on a 16-core
 * device machine, where clients, worker and Postgres have cores of their own.
 *
 * The edge runs with the V8 flags deploy/ gives every edge (edge/edge_v8_flags.ts) unless
 * `--edge-v8-flags` says otherwise (empty: V8's defaults); `--edge-deno-flags` go to its
 * `deno run`.
 *
 * @module
 */
import {
  flag,
  machineDescription,
  numberFlag,
  quantile,
  residentMiB,
  writeResult,
} from "./bench_support.ts";
import { SCRIPTED_STEP_MS, ScriptedRuntime } from "./scripted_worker.ts";
import { serveWorkerLink } from "../routes/worker_link_route.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { createSession, speechPackets } from "../tests/support/protocol_client.ts";
import { type RoleProcess, startRole } from "../tests/support/main_process.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import type { ServerMessage } from "../protocol/client_messages.ts";
import { FRAME_ORIGINS, MicroTurnFlags, type MicroTurnOutput } from "../protocol/worker_link.ts";
import { EDGE_V8_FLAGS } from "../edge/edge_v8_flags.ts";
// Clients use the npm `ws` client, which sets TCP_NODELAY as browsers do: Deno's own client
// leaves Nagle's algorithm on, which held some packets ~20 ms (edge/worker_link_client.ts).
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";
import {
  AUDIO_FRAME_MS,
  AUDIO_PACKET_MS,
  FRAMES_PER_MICRO_TURN,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

const seconds = numberFlag("seconds", 10);
const capacityMode = Deno.args.includes("--capacity");
const fixedSessions = numberFlag("sessions", 100);
/** Runs of each session count; every figure reported is their median. */
const roundCount = numberFlag("rounds", 3);
const LAG_BOUND_MS = 10;
const DECODED = FRAME_ORIGINS.indexOf("decoded");
/** The edge runs with the V8 flags every deployed edge has; `--edge-v8-flags=` runs V8's own. */
const edgeV8Flags = flag("edge-v8-flags") ?? EDGE_V8_FLAGS;
/** The first seconds warm the JIT, the sockets and the database pool; not counted. */
const WARMUP_TURNS = 10;
const databaseUrl = Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL");
if (!databaseUrl) {
  console.error("bench:sockets needs the Postgres an edge logs to: set BENCH_DATABASE_URL");
  Deno.exit(2);
}
const cores = navigator.hardwareConcurrency;
/** The core the edge is pinned to (`--edge-cpu`, default 0). */
const EDGE_CPU = numberFlag("edge-cpu", 0);
/**
 * The edge's core and its SMT siblings (threads of the same physical core): this process keeps
 * off all of them, so the edge has a whole core (on a host with hyper-threads a sibling's
 * load would take half of it).
 */
const edgeCore = new Set([EDGE_CPU, ...smtSiblings(EDGE_CPU)]);
// This process (clients, scripted worker) keeps off the edge's core.
if (cores > edgeCore.size) {
  const others = Array.from({ length: cores }, (_, i) => i).filter((i) => !edgeCore.has(i));
  await new Deno.Command("taskset", {
    args: ["-a", "-p", "-c", others.join(","), String(Deno.pid)],
    stdout: "null",
  }).output();
}

/** The other hardware threads of `cpu`'s physical core, from sysfs (none where unknown). */
function smtSiblings(cpu: number): number[] {
  try {
    const list = Deno.readTextFileSync(
      `/sys/devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`,
    );
    return list.trim().split(",").flatMap((range) => {
      const [from, to = from] = range.split("-").map(Number);
      return Array.from({ length: to - from + 1 }, (_, i) => from + i);
    }).filter((sibling) => sibling !== cpu);
  } catch {
    return [];
  }
}
const db = await openDatabase({ url: databaseUrl });
await migrate(db);
await db.close();

const turns = Math.floor((seconds * 1000) / AUDIO_FRAME_MS / FRAMES_PER_MICRO_TURN);
/** Audio a client packet carries, ms: the SDK's by default. */
const packetMs = numberFlag("packet-ms", AUDIO_PACKET_MS);
const framesPerPacket = packetMs / AUDIO_FRAME_MS;
const packets = speechPackets(
  loopSamples(speechFixture(), turns * FRAMES_PER_MICRO_TURN * SAMPLES_PER_FRAME),
  1000,
  0x1234,
  framesPerPacket,
);
const workerStepMs = numberFlag("worker-step-ms", 0);
const runtime = new ScriptedRuntime(workerStepMs);
/** Told as each output leaves the worker link (set per step). */
let onOutputSent: (output: MicroTurnOutput, encodeMs: number | undefined) => void = () => {};
const worker = serveWorkerLink(runtime, "127.0.0.1", undefined, {
  onOutputSent: (output, encodeMs) => onOutputSent(output, encodeMs),
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** CPU seconds the process has used (user + system), from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ
}

interface BenchClient {
  socket: NodelayWebSocket;
  sessionId: string;
  /** When each packet was sent. */
  sentAt: Float64Array;
  /**
   * Media frame the edge put the first packet in (it anchors it at the next open frame), known
   * from the first micro-turn with decoded audio; then micro-turn k's last packet is
   * `10 k + 9 - firstFrame`.
   */
  firstFrame: number | undefined;
  /**
   * How long each micro-turn waited in the scripted worker (its step), ms, by the edge's index
   * (which starts wherever the edge anchored the first packet, not at 0).
   */
  workerWait: Map<number, number>;
  /** How long the worker link took to encode each output's first audio frames, ms. */
  encodeWait: Map<number, number>;
  /** When each output left the worker link (`performance.now()`). */
  leftWorkerAt: Map<number, number>;
  /** Which micro-turns' `output` came back. */
  answered: Set<number>;
  /** Told of each `output` as it arrives. */
  onOutput: (index: number, arrivedAt: number) => void;
  ready: Promise<void>;
}

/** When the client sent micro-turn `index`'s last packet (NaN if unknown or not sent). */
function lastPacketSent(client: BenchClient, index: number): number {
  if (client.firstFrame === undefined) return NaN;
  const packet = index * FRAMES_PER_MICRO_TURN + FRAMES_PER_MICRO_TURN - 1 - client.firstFrame;
  return packet >= 0 && packet < client.sentAt.length ? client.sentAt[packet] : NaN;
}

async function connect(edge: RoleProcess): Promise<BenchClient> {
  const { sessionId, token } = await createSession(edge.url);
  const socket = new NodelayWebSocket(
    `${edge.url.replace("http", "ws")}/v1/sessions/${sessionId}/ws?token=${token}`,
  );
  socket.binaryType = "arraybuffer";
  const ready = Promise.withResolvers<void>();
  const client: BenchClient = {
    socket,
    sessionId,
    sentAt: new Float64Array(turns * FRAMES_PER_MICRO_TURN).fill(NaN),
    firstFrame: undefined,
    workerWait: new Map(),
    encodeWait: new Map(),
    leftWorkerAt: new Map(),
    answered: new Set(),
    onOutput: () => {},
    ready: ready.promise,
  };
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return;
    const message = JSON.parse(event.data) as ServerMessage;
    if (message.type === "ready") ready.resolve();
    if (message.type !== "output") return;
    client.answered.add(message.index);
    client.onOutput(message.index, performance.now());
  });
  socket.addEventListener("error", () => ready.reject(new Error("client socket failed")));
  return client;
}

/** The cumulative buckets of the edge's event loop lag histogram: upper bound (ms) -> count. */
async function loopLagBuckets(edgeUrl: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${edgeUrl}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (
    const [, le, count] of text.matchAll(
      /^process_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm,
    )
  ) {
    buckets.set(le === "+Inf" ? Infinity : Number(le) * 1000, Number(count));
  }
  return buckets;
}

/**
 * Of the lag measured between two scrapes: the bucket bound (ms) at or under which a fraction
 * `q` of measurements fall, and the percent of them over 10 ms.
 */
function loopLagBetween(before: Map<number, number>, after: Map<number, number>) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = count(Infinity);
  return {
    under: (q: number) => bounds.find((le) => count(le) >= q * total) ?? Infinity,
    percentOver10: total ? 100 * (1 - count(10) / total) : 0,
  };
}

interface StepResult {
  sessions: number;
  assembly_lag_p50_ms: number;
  assembly_lag_p99_ms: number;
  round_trip_p50_ms: number;
  round_trip_p99_ms: number;
  overhead_p50_ms: number;
  overhead_p99_ms: number;
  overhead_without_worker_encode_p50_ms: number;
  overhead_without_worker_encode_p99_ms: number;
  worker_encode_p50_ms: number;
  worker_encode_p99_ms: number;
  egress_lag_p50_ms: number;
  egress_lag_p99_ms: number;
  outputs_missing: number;
  input_frames_concealed_percent: number;
  micro_turns_with_late_audio_percent: number;
  edge_cpu_ms_per_session_second: number;
  edge_cpu_share: number;
  edge_idle_mib: number;
  edge_mib_per_session: number;
  generator_timer_lag_p99_ms: number;
  edge_loop_lag_p50_under_ms: number;
  edge_loop_lag_p99_under_ms: number;
  edge_loop_lag_percent_over_10ms: number;
}

async function step(sessions: number): Promise<StepResult> {
  const edge = await startRole(
    ["--role=edge", `--worker-url=${worker.linkUrl}`, "--resume-window-seconds=1"],
    {
      DATABASE_URL: databaseUrl!,
      TOKEN_SECRET: "edge-sockets-bench-secret-0123456789",
      ...(edgeV8Flags ? { DENO_V8_FLAGS: edgeV8Flags } : {}),
    },
    { cpus: String(EDGE_CPU), denoFlags: flag("edge-deno-flags")?.split(" ") },
  );
  const pid = edge.child.pid;
  await sleep(500);
  const idleMiB = await residentMiB(pid);
  const clients: BenchClient[] = [];
  for (let i = 0; i < sessions; i++) clients.push(await connect(edge));
  await Promise.all(clients.map((c) => c.ready));
  const bySession = new Map(clients.map((c) => [c.sessionId, c]));
  const lags: number[] = [];
  const roundTrips: number[] = [];
  const overheads: number[] = [];
  const egressLags: number[] = [];
  const encodeWaits: number[] = [];
  const edgeOverheads: number[] = [];
  /** On-time input frames the edge did not have when their micro-turn closed, and turns. */
  const input = { frames: 0, concealed: 0, turns: 0, lateTurns: 0 };
  runtime.onAnswer = (turn, waitedMs) => {
    const client = bySession.get(turn.sessionId);
    client?.workerWait.set(turn.index, waitedMs);
  };
  onOutputSent = (output, encodeMs) => {
    const client = bySession.get(output.sessionId);
    client?.encodeWait.set(output.index, encodeMs ?? 0);
    client?.leftWorkerAt.set(output.index, performance.now());
  };
  runtime.onTurn = (turn, arrivedAt) => {
    const client = bySession.get(turn.sessionId);
    if (!client) return;
    const decoded = turn.frameOrigins.indexOf(DECODED);
    if (client.firstFrame === undefined && decoded >= 0) {
      client.firstFrame = turn.index * FRAMES_PER_MICRO_TURN + decoded;
    }
    const sent = lastPacketSent(client, turn.index);
    if (turn.index < WARMUP_TURNS || Number.isNaN(sent)) return;
    lags.push(arrivedAt - sent);
    // Loopback loses nothing: a frame the edge concealed or marked missing, or audio that came
    // after its micro-turn closed, was held up by the edge (or this process), not the network.
    input.turns++;
    if (turn.flags & MicroTurnFlags.LATE_AUDIO) input.lateTurns++;
    for (const origin of turn.frameOrigins) {
      input.frames++;
      if (origin !== DECODED) input.concealed++;
    }
  };
  for (const client of clients) {
    client.onOutput = (index, arrivedAt) => {
      const sent = lastPacketSent(client, index);
      if (index < WARMUP_TURNS || Number.isNaN(sent)) return;
      roundTrips.push(arrivedAt - sent);
      const overhead = arrivedAt - sent - SCRIPTED_STEP_MS - (client.workerWait.get(index) ?? 0);
      overheads.push(overhead);
      const leftWorkerAt = client.leftWorkerAt.get(index);
      const encodeWait = client.encodeWait.get(index);
      if (leftWorkerAt === undefined || encodeWait === undefined) return;
      egressLags.push(arrivedAt - leftWorkerAt);
      encodeWaits.push(encodeWait);
      edgeOverheads.push(overhead - encodeWait);
    };
  }

  // Real time: packet i of session s is due at t0 + offset_s + 20 i (sessions spread over a
  // micro-turn, as sessions that started at unrelated times are).
  const t0 = performance.now() + 100;
  const cpuStart = await cpuSeconds(pid);
  const lagStart = await loopLagBuckets(edge.url);
  const wallStart = performance.now();
  const timerLags: number[] = [];
  const next = new Int32Array(sessions);
  const total = packets.length;
  // A packet goes when its last frame is due.
  const due = (s: number, i: number) =>
    t0 + (s / sessions) * 200 + ((i + 1) * framesPerPacket - 1) * AUDIO_FRAME_MS;
  let expected = t0;
  while (next.some((i) => i < total)) {
    const now = performance.now();
    timerLags.push(now - expected);
    for (let s = 0; s < sessions; s++) {
      const client = clients[s];
      while (next[s] < total && due(s, next[s]) <= now) {
        const i = next[s]++;
        client.socket.send(packets[i]);
        client.sentAt.fill(performance.now(), i * framesPerPacket, (i + 1) * framesPerPacket);
      }
    }
    expected = performance.now() + 2;
    await sleep(2);
  }
  // The last outputs come back within a few hundred ms.
  await sleep(1000);
  const cpuUsed = (await cpuSeconds(pid)) - cpuStart;
  const loopLag = loopLagBetween(lagStart, await loopLagBuckets(edge.url));
  const wall = (performance.now() - wallStart) / 1000;
  const loadedMiB = await residentMiB(pid);
  // Micro-turns whose audio was all sent and whose output never came back.
  let missing = 0;
  for (const client of clients) {
    if (client.firstFrame === undefined) continue;
    const lastTurn =
      Math.floor((total * framesPerPacket + client.firstFrame) / FRAMES_PER_MICRO_TURN) -
      1;
    for (let k = WARMUP_TURNS; k <= lastTurn; k++) {
      if (!Number.isNaN(lastPacketSent(client, k)) && !client.answered.has(k)) missing++;
    }
  }
  for (const client of clients) client.socket.close();
  edge.child.kill("SIGTERM");
  await edge.child.status;
  const round = (x: number) => Number(x.toFixed(2));
  return {
    sessions,
    assembly_lag_p50_ms: round(quantile(lags, 0.5)),
    assembly_lag_p99_ms: round(quantile(lags, 0.99)),
    round_trip_p50_ms: round(quantile(roundTrips, 0.5)),
    round_trip_p99_ms: round(quantile(roundTrips, 0.99)),
    overhead_p50_ms: round(quantile(overheads, 0.5)),
    overhead_p99_ms: round(quantile(overheads, 0.99)),
    overhead_without_worker_encode_p50_ms: round(quantile(edgeOverheads, 0.5)),
    overhead_without_worker_encode_p99_ms: round(quantile(edgeOverheads, 0.99)),
    worker_encode_p50_ms: round(quantile(encodeWaits, 0.5)),
    worker_encode_p99_ms: round(quantile(encodeWaits, 0.99)),
    egress_lag_p50_ms: round(quantile(egressLags, 0.5)),
    egress_lag_p99_ms: round(quantile(egressLags, 0.99)),
    outputs_missing: missing,
    input_frames_concealed_percent: round((100 * input.concealed) / Math.max(1, input.frames)),
    micro_turns_with_late_audio_percent: round((100 * input.lateTurns) / Math.max(1, input.turns)),
    edge_cpu_ms_per_session_second: round((cpuUsed * 1000) / (sessions * seconds)),
    edge_cpu_share: round(cpuUsed / wall),
    edge_idle_mib: round(idleMiB),
    edge_mib_per_session: round((loadedMiB - idleMiB) / sessions),
    generator_timer_lag_p99_ms: round(quantile(timerLags, 0.99)),
    edge_loop_lag_p50_under_ms: loopLag.under(0.5),
    edge_loop_lag_p99_under_ms: loopLag.under(0.99),
    edge_loop_lag_percent_over_10ms: round(loopLag.percentOver10),
  };
}

/**
 * Runs `--rounds` steps of `sessions` sessions, each with a fresh edge, and reports each field's
 * median over them, with the rounds' own results.
 */
async function medianStep(sessions: number): Promise<StepResult & { rounds: StepResult[] }> {
  const rounds: StepResult[] = [];
  for (let i = 0; i < roundCount; i++) rounds.push(await step(sessions));
  const median = Object.fromEntries(
    Object.keys(rounds[0]).map((key) => [
      key,
      quantile(rounds.map((r) => r[key as keyof StepResult]), 0.5),
    ]),
  ) as unknown as StepResult;
  return { ...median, rounds };
}

const machine = machineDescription();
if (capacityMode) {
  const steps: StepResult[] = [];
  let sessionsPerCore = 0;
  for (let n = numberFlag("from", 50); n <= 1000; n += numberFlag("by", 50)) {
    const result = await medianStep(n);
    console.log(JSON.stringify(result));
    steps.push(result);
    if (result.assembly_lag_p99_ms >= LAG_BOUND_MS || result.edge_cpu_share > 0.98) break;
    sessionsPerCore = n;
  }
  const atCapacity = steps.find((s) => s.sessions === sessionsPerCore);
  await writeResult(flag("out") ?? "edge-sockets-capacity.json", {
    machine,
    seconds,
    edge_v8_flags: edgeV8Flags,
    client_packet_ms: packetMs,
    round_count: roundCount,
    sessions_per_core: sessionsPerCore,
    p99_assembly_lag_ms: atCapacity?.assembly_lag_p99_ms,
    steps,
  });
} else {
  const result = await medianStep(fixedSessions);
  console.log(JSON.stringify(result, null, 2));
  await writeResult(flag("out") ?? "edge-sockets.json", {
    machine,
    seconds,
    round_count: roundCount,
    edge_v8_flags: edgeV8Flags,
    client_packet_ms: packetMs,
    worker_step_ms: workerStepMs,
    ...result,
  });
}
runtime.stop();
await worker.close();
