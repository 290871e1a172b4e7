/**
 * Starts a whole system for a test: a worker and an edge on ephemeral 127.0.0.1 ports,
 * linked over a real WebSocket, against a test database.
 *
 * @module
 */
import { type RunningWorker, startWorker } from "../../gpu-worker/worker_server.ts";
import { type RunningEdge, startEdge } from "../../edge/edge_server.ts";
import type { Database } from "../../store/database.ts";
import { createLogger } from "../../lib/logger.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { ConfigSchema } from "../../config.ts";

/** The token secret test systems use, so tests can mint their own (expired, forged) tokens. */
export const TEST_TOKEN_SECRET = "test-secret-0123456789abcdef";

/** A started system. */
export interface TestSystem {
  /** Edge base URL (http). */
  url: string;
  /** The edge, for its live sessions. */
  edge: RunningEdge;
  /** The worker, for its runtime. */
  worker: RunningWorker;
  /** Starts another edge on the same database and worker (as another host would). */
  addEdge(edgeId: string): RunningEdge;
  /** Stops edges and worker (the database stays open for inspection). */
  close(): Promise<void>;
}

/**
 * Starts worker + edge against `db`. Tests over real sockets pass a stopped
 * `ManualClock`: micro-turns then close only when their audio is complete (or the
 * session ends), never at a wall-clock deadline, so results do not depend on machine load.
 */
export async function startTestSystem(
  db: Database,
  options: { clock?: Clock; config?: Record<string, unknown> } = {},
): Promise<TestSystem> {
  const config = ConfigSchema.parse({
    host: "127.0.0.1",
    logLevel: "warn",
    devMode: "true",
    ...options.config,
  });
  const log = createLogger("test", "warn");
  const worker = await startWorker(config, 0, log);
  const edges: RunningEdge[] = [];
  const addEdge = (edgeId: string) => {
    const edge = startEdge({ ...config, edgeId, tokenSecret: TEST_TOKEN_SECRET }, {
      port: 0,
      db,
      workerUrl: worker.linkUrl,
      model: "reference",
      clock: options.clock ?? systemClock,
      log,
    });
    edges.push(edge);
    return edge;
  };
  const edge = addEdge(config.edgeId || "test-edge");
  return {
    url: edge.url,
    edge,
    worker,
    addEdge,
    close: async () => {
      for (const running of edges) await running.close();
      await worker.close();
    },
  };
}
