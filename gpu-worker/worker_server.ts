/**
 * The worker role: loads the interaction model, serves the worker link plus `/healthz` and
 * `/metrics` on its own port.
 *
 * @module
 */
import { Hono } from "hono";
import { Registry } from "prom-client";
import { InteractionModel } from "./interaction_model.ts";
import { buildReferenceModel } from "./model/reference_model.ts";
import { WorkerRuntime } from "./worker_runtime.ts";
import { mountWorkerLink, type SessionNotifier } from "../routes/worker_link_route.ts";
import { mountOperationalRoutes } from "../routes/operational_routes.ts";
import { mountChatCompletions } from "../routes/chat_completions_route.ts";
import { BackgroundLm } from "./background_lm_runtime.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logger.ts";

/** A running worker. */
export interface RunningWorker {
  /** The link URL edges connect to. */
  linkUrl: string;
  /** The HTTP base URL. */
  url: string;
  /** The session runtime (for tests and operational tools). */
  runtime: WorkerRuntime;
  /** Stops accepting, then releases the model. */
  close(): Promise<void>;
}

/** Starts a worker on `port`. */
export async function startWorker(
  config: Pick<
    Config,
    | "host"
    | "modelPath"
    | "modelSize"
    | "executionProvider"
    | "workerCapacity"
    | "maxBatch"
    | "sessionIdleSeconds"
  >,
  port: number,
  log: Logger,
): Promise<RunningWorker> {
  const started = performance.now();
  const model = config.modelPath
    ? await InteractionModel.load(config.modelPath, {
      name: config.modelPath,
      executionProvider: config.executionProvider,
    })
    : await (() => {
      const built = buildReferenceModel(config.modelSize);
      return InteractionModel.load(built.bytes, {
        name: built.name,
        executionProvider: config.executionProvider,
      });
    })();
  const registry = new Registry();
  let notify: SessionNotifier = () => {};
  const runtime = new WorkerRuntime(model, {
    capacity: config.workerCapacity,
    maxBatch: config.maxBatch,
    idleTimeoutMs: config.sessionIdleSeconds * 1000,
    onEvent: (sessionId, event) => notify(sessionId, { ...event }),
    registry,
  });
  log.info("model loaded", {
    model: model.name,
    executionProvider: config.executionProvider,
    cache: model.geometry,
    cacheMiB: Math.round(runtime.cacheBytes / 2 ** 20),
    ms: Math.round(performance.now() - started),
  });
  const app = new Hono();
  mountOperationalRoutes(app, registry, () => ({
    role: "worker",
    model: model.name,
    sessions: runtime.sessionCount,
  }));
  notify = mountWorkerLink(app, runtime, log);
  const backgroundLm = await BackgroundLm.load();
  mountChatCompletions(app, backgroundLm, "reference-background-lm");
  const sweeper = setInterval(() => {
    for (const sessionId of runtime.sweepIdle()) {
      log.warn("idle session reclaimed", { sessionId });
      notify(sessionId, { kind: "idle_closed" });
    }
  }, 5000);
  const server = Deno.serve({ hostname: config.host, port, onListen: () => {} }, app.fetch);
  const url = `http://${config.host}:${server.addr.port}`;
  log.info("worker listening", { url });
  let closing: Promise<void> | undefined;
  return {
    url,
    linkUrl: `ws://${config.host}:${server.addr.port}/v1/link`,
    runtime,
    close: () =>
      closing ??= (async () => {
        clearInterval(sweeper);
        await server.shutdown();
        runtime.release();
        await model.close();
        await backgroundLm.close();
      })(),
  };
}
