/**
 * Starts a whole system for a test: a worker and an edge on ephemeral 127.0.0.1 ports,
 * linked over a real WebSocket, against a test database.
 *
 * @module
 */
import { startWorker } from "../../gpu-worker/worker_server.ts";
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
  /** Stops edge and worker (the database stays open for inspection). */
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
  const config = ConfigSchema.parse({ host: "127.0.0.1", logLevel: "warn", ...options.config });
  const log = createLogger("test", "warn");
  const worker = await startWorker(config, 0, log);
  const edge = startEdge({ ...config, tokenSecret: TEST_TOKEN_SECRET }, {
    port: 0,
    db,
    workerUrl: worker.linkUrl,
    model: "minimal",
    clock: options.clock ?? systemClock,
    log,
  });
  return {
    url: edge.url,
    edge,
    close: async () => {
      await edge.close();
      await worker.close();
    },
  };
}
