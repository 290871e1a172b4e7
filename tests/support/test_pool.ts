/**
 * A worker pool for a test: workers `w-a`, `w-b`, ... of region `eu` (4 session slots each)
 * announcing themselves in a fresh PGlite registry every 0.2 s, and edges placing sessions on
 * them, all on ephemeral 127.0.0.1 ports. Edges run on a stopped clock: each reads the registry
 * once and counts its own placements, and micro-turns close when their audio is complete, so
 * results do not depend on heartbeat timing or machine load.
 *
 * @module
 */
import { type RunningWorker, startWorker } from "../../gpu-worker/worker_server.ts";
import { type RunningEdge, startEdge } from "../../edge/edge_server.ts";
import { WorkerRegistry } from "../../store/worker_registry.ts";
import { type Database, openDatabase } from "../../store/database.ts";
import { migrate } from "../../store/migrations.ts";
import { ConfigSchema } from "../../config.ts";
import { createLogger } from "../../lib/logger.ts";
import { ManualClock, systemClock } from "../../lib/clock.ts";
import { TEST_TOKEN_SECRET } from "./test_system.ts";

/** A started pool. */
export interface TestPool {
  /** The database the registry and the sessions live in. */
  db: Database;
  /** The pool's registry. */
  registry: WorkerRegistry;
  /** The workers still running (a test that stops one removes it). */
  workers: RunningWorker[];
  /** Starts an edge of `region` placing sessions on the pool. */
  startEdge(region?: string): RunningEdge;
  /** Starts one more worker in the pool (it joins `workers`). */
  addWorker(id: string): Promise<RunningWorker>;
  /** Stops edges and workers, closes the database. */
  close(): Promise<void>;
}

/** Starts `workerIds.length` pooled workers and returns the pool. */
export async function startTestPool(workerIds = ["w-a", "w-b"]): Promise<TestPool> {
  const db = await openDatabase({ pgliteDataDir: "memory://" });
  await migrate(db);
  const log = createLogger("test", "error");
  const config = ConfigSchema.parse({
    host: "127.0.0.1",
    logLevel: "error",
    devMode: "true",
    region: "eu",
    workerCapacity: 4,
    workerHeartbeatSeconds: 0.2,
  });
  const registry = WorkerRegistry.withHeartbeat(db, config.workerHeartbeatSeconds);
  const workers: RunningWorker[] = [];
  const addWorker = async (id: string) => {
    const worker = await startWorker(config, 0, log, {
      registry,
      id,
      region: "eu",
      clock: systemClock,
    });
    workers.push(worker);
    return worker;
  };
  for (const id of workerIds) await addWorker(id);
  const edges: RunningEdge[] = [];
  return {
    db,
    registry,
    workers,
    addWorker,
    startEdge: (region = "eu") => {
      const edge = startEdge({ ...config, region, tokenSecret: TEST_TOKEN_SECRET }, {
        port: 0,
        db,
        model: "reference",
        clock: new ManualClock(Date.now()),
        log,
      });
      edges.push(edge);
      return edge;
    },
    close: async () => {
      for (const edge of edges) await edge.close();
      for (const worker of workers) await worker.close();
      await db.close();
    },
  };
}
