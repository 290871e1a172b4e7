/**
 * A worker pool as separate processes over real sockets, sharing one Postgres: workers
 * (`main.ts --role=worker`, heartbeating into the registry) and edges placing sessions on them;
 * clients that stream the speech fixture in real time; and the audit of what the clients and
 * the event log saw afterwards. Used by the pool test and by `bench:pool`.
 *
 * @module
 */
import { type RoleProcess, startRole } from "./main_process.ts";
import { createSession, ProtocolClient } from "./protocol_client.ts";
import { EventLog } from "../../store/event_log.ts";
import type { Database } from "../../store/database.ts";
import { AUDIO_FRAME_MS, FRAMES_PER_MICRO_TURN } from "../../protocol/media_format.ts";

/** A pool's processes. */
export interface ProcessPool {
  /** Worker processes, `id` as announced. */
  workers: (RoleProcess & { id: string })[];
  /** Edge processes. */
  edges: RoleProcess[];
  /** Stops every process still running (SIGTERM, then waits for it). */
  stop(): Promise<void>;
}

/** What {@linkcode startProcessPool} starts. */
export interface ProcessPoolOptions {
  /** Postgres URL every process shares (may carry `?search_path=`). */
  databaseUrl: string;
  /** Worker processes. */
  workers: number;
  /** Edge processes. */
  edges: number;
  /** Session slots per worker. */
  workerCapacity: number;
  /** Heartbeat period (the TTL is three of them). */
  heartbeatSeconds: number;
}

/** Starts the workers, then the edges (all in region `eu`), each once its `/healthz` answers. */
export async function startProcessPool(options: ProcessPoolOptions): Promise<ProcessPool> {
  const env = { DATABASE_URL: options.databaseUrl, TOKEN_SECRET: "process-pool-secret-0123456789" };
  const heartbeat = `--worker-heartbeat-seconds=${options.heartbeatSeconds}`;
  const workers = await Promise.all(
    Array.from({ length: options.workers }, async (_, i) => {
      const id = `pool-w${i}`;
      const args = [
        "--role=worker",
        "--region=eu",
        `--worker-id=${id}`,
        `--worker-capacity=${options.workerCapacity}`,
        heartbeat,
      ];
      return { ...await startRole(args, env), id };
    }),
  );
  const edges = await Promise.all(
    Array.from(
      { length: options.edges },
      () => startRole(["--role=edge", "--region=eu", heartbeat], env),
    ),
  );
  return {
    workers,
    edges,
    stop: async () => {
      for (const process of [...edges, ...workers]) {
        try {
          process.child.kill("SIGTERM");
        } catch {
          // already gone
        }
        await process.child.status;
      }
    },
  };
}

/** A client's session in the pool. */
export interface PooledSession {
  /** Session id. */
  sessionId: string;
  /** Its client. */
  client: ProtocolClient;
}

/** Opens `count` sessions, round-robin over `edges`, each connected and `ready`. */
export async function openSessions(edges: RoleProcess[], count: number): Promise<PooledSession[]> {
  const opened: PooledSession[] = [];
  for (let s = 0; s < count; s++) {
    const edge = edges[s % edges.length];
    const { sessionId, token } = await createSession(edge.url);
    const client = await ProtocolClient.connect(edge.url, sessionId, token);
    await client.message("ready");
    opened.push({ sessionId, client });
  }
  return opened;
}

/** Sessions open on a worker process, from its `/healthz`. */
export async function sessionsOn(worker: RoleProcess): Promise<number> {
  return (await (await fetch(`${worker.url}/healthz`)).json()).sessions as number;
}

/** Resolves after `ms` (at once when it is not positive). */
export const sleep = (ms: number): Promise<unknown> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Resolves with whether `done` settled within `ms`, leaving no timer behind. */
export async function within(ms: number, done: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([done.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Streams `packets` from every session at the pace of their media time (20 ms apart, the
 * sessions staggered within a frame) from `startMs` (`performance.now()` time), then waits for
 * `settled` (by default 1 s, for the last outputs and acknowledgements) and says goodbye.
 */
export async function streamInRealTime(
  sessions: PooledSession[],
  packets: Uint8Array<ArrayBuffer>[],
  startMs: number,
  settled: () => Promise<unknown> = () => sleep(1000),
): Promise<void> {
  await Promise.all(sessions.map(async ({ client }, s) => {
    const offset = (s * AUDIO_FRAME_MS) / sessions.length;
    for (let i = 0; i < packets.length; i++) {
      await sleep(startMs + offset + i * AUDIO_FRAME_MS - performance.now());
      client.send(packets[i]);
    }
  }));
  await settled();
  for (const { client } of sessions) client.send(JSON.stringify({ type: "bye" }));
  await Promise.all(sessions.map(({ client }) => client.message("closed").catch(() => undefined)));
}

/** What one session's client and its event log show after a run. */
export interface SessionAudit {
  /** Session id. */
  sessionId: string;
  /** Error messages its client got. */
  errors: string[];
  /** Micro-turns logged. */
  microTurns: number;
  /** Whether the logged micro-turn indices run 0, 1, 2, ... without a gap or a repeat. */
  numberingContinuous: boolean;
  /** Where the numbering first breaks: the indices logged around it (empty when it holds). */
  numberingBreak: number[];
  /** Micro-turns the client was told were safe (acknowledged) that are not in the log. */
  lostAcknowledged: number;
  /** The longest wait between two outputs the client received, ms. */
  longestOutputGapMs: number;
  /** Its moves: the worker (link URL) it left, the edge's time to move it, the micro-turns replayed. */
  moves: { from: string; gapMs: number; replayedMicroTurns: number }[];
}

/** Reads what each session's client saw and what its event log holds. */
export async function auditSessions(
  db: Database,
  sessions: PooledSession[],
  firstSequence: number,
): Promise<SessionAudit[]> {
  const log = new EventLog(db);
  return await Promise.all(sessions.map(async ({ sessionId, client }) => {
    const events = await log.read(sessionId);
    const turns = events.filter((e) => e.kind === "micro_turn").map((e) => e.microTurn!);
    const logged = new Set(turns);
    const acked = client.lastAck;
    let lostAcknowledged = 0;
    if (acked !== undefined) {
      const lastTurn = Math.floor((acked - firstSequence) / FRAMES_PER_MICRO_TURN);
      for (let t = 0; t < lastTurn; t++) if (!logged.has(t)) lostAcknowledged++;
    }
    const outputs = client.messages.flatMap((m, i) =>
      m.type === "output" ? [client.arrivals[i]] : []
    );
    const moves = events.filter((e) => e.kind === "worker_moved");
    return {
      sessionId,
      errors: client.messages.flatMap((m) => m.type === "error" ? [`${m.code}: ${m.message}`] : []),
      microTurns: turns.length,
      numberingContinuous: turns.every((t, i) => t === i),
      numberingBreak: ((at) => at < 0 ? [] : turns.slice(Math.max(0, at - 3), at + 4))(
        turns.findIndex((t, i) => t !== i),
      ),
      lostAcknowledged,
      longestOutputGapMs: outputs.slice(1).reduce(
        (gap, at, i) => Math.max(gap, at - outputs[i]),
        0,
      ),
      moves: moves.map((e) => ({
        from: String(e.payload.from),
        gapMs: Number(e.payload.gapMs),
        replayedMicroTurns: Number(e.payload.replayedMicroTurns),
      })),
    };
  }));
}
