/**
 * The system the interactivity benchmark runs through, per backend, as a deployment runs it:
 * the edge is its own `main.ts --role=edge` process (embedded PGlite in memory, or the
 * Postgres at `databaseUrl`), linked over a real WebSocket to a worker with the backend:
 *
 * - `reference`: a `main.ts --role=worker` process with the random reference interaction model
 *   (or `MODEL_PATH` from the environment: any model plugs in here by contract);
 * - `trained`: the same worker process serving the project's trained model
 *   (models/interaction-trained.onnx, train/);
 * - `policy`: the scripted turn-taking policy (eval/turn_taking_policy.ts) behind the real
 *   worker link, served from this process.
 *
 * @module
 */
import { startRole } from "../tests/support/main_process.ts";
import { serveWorkerLink } from "../routes/worker_link_route.ts";
import { TurnTakingPolicy } from "./turn_taking_policy.ts";
import { TRAINED_MODEL_PATH } from "../gpu-worker/model/trained_model.ts";

/** The backends the benchmark compares. */
export const DUPLEX_BACKENDS = ["policy", "reference", "trained"] as const;

/** One of {@linkcode DUPLEX_BACKENDS}. */
export type DuplexBackend = typeof DUPLEX_BACKENDS[number];

/** A running system. */
export interface DuplexSystem {
  /** The edge's base URL. */
  edgeUrl: string;
  /** Stops every part. */
  close(): Promise<void>;
}

/** Starts edge and worker for `backend`. */
export async function startDuplexSystem(
  backend: DuplexBackend,
  { databaseUrl }: { databaseUrl?: string } = {},
): Promise<DuplexSystem> {
  const env: Record<string, string> = {};
  const modelPath = backend === "trained" ? TRAINED_MODEL_PATH : Deno.env.get("MODEL_PATH");
  if (modelPath) env.MODEL_PATH = modelPath;
  const stops: (() => Promise<void>)[] = [];
  const stopProcess = (child: Deno.ChildProcess) => async () => {
    child.kill("SIGTERM");
    await child.status;
  };
  try {
    let linkUrl: string;
    if (backend === "policy") {
      const worker = serveWorkerLink(new TurnTakingPolicy());
      stops.push(worker.close);
      linkUrl = worker.linkUrl;
    } else {
      const worker = await startRole(["--role=worker"], env);
      stops.push(stopProcess(worker.child));
      linkUrl = worker.linkUrl;
    }
    const edge = await startRole([
      "--role=edge",
      `--worker-url=${linkUrl}`,
      "--resume-window-seconds=1",
    ], {
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { PGLITE_DIR: "memory://" }),
      TOKEN_SECRET: crypto.randomUUID(),
    });
    stops.unshift(stopProcess(edge.child));
    return {
      edgeUrl: edge.url,
      close: async () => {
        for (const stop of stops) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops) await stop().catch(() => {});
    throw error;
  }
}
