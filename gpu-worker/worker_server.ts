/**
 * The worker role: loads the interaction model, serves the worker link plus `/healthz` and
 * `/metrics` on its own port.
 *
 * @module
 */
import { Hono } from "hono";
import promClient, { Registry } from "prom-client";
import { type ExecutionProvider, InteractionModel } from "./interaction_model.ts";
import { TRAINED_MODEL_PATH } from "./model/trained_model.ts";
import { buildReferenceModel, type ReferenceModelOptions } from "./model/reference_model.ts";
import { WorkerRuntime } from "./worker_runtime.ts";
import { mountWorkerLink, type SessionNotifier } from "../routes/worker_link_route.ts";
import { mountOperationalRoutes } from "../routes/operational_routes.ts";
import { requireSharedSecret } from "../routes/internal_auth.ts";
import { bodyLimit } from "hono/body-limit";
import { mountChatCompletions } from "../routes/chat_completions_route.ts";
import { BackgroundLm } from "./background_lm_runtime.ts";
import { WorkerAnnouncer } from "./worker_announcer.ts";
import { MODEL_CONTRACT_VERSION } from "./model/model_contract.ts";
import type { WorkerRegistry } from "../store/worker_registry.ts";
import type { Clock } from "../lib/clock.ts";
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

/**
 * How the worker builds the reference model for a provider (bench/results/worker-gpu*.json):
 * float32 with the fused attention kernel on the CPU; float16 on a GPU. On WebGPU attention
 * from MatMul and Softmax over keys stored by feature (its `MultiHeadAttention` reads the rings
 * at ~90 GB/s, its MatMul at ~700: bench/attention_probe.ts), and the projections' weights in
 * 8 bits (`MatMulNBits`, the only WebGPU kernel that reaches an NVIDIA GPU's tensor cores:
 * bench/matmul_probe.ts; outputs within 0.012 of float32 on the CPU, worker-gpu-check.json).
 * On CUDA the fused `MultiHeadAttention` and float16 weights (cuBLAS): a 256-session step 16.7
 * ms against 19.5 with the operators (worker-gpu-cuda.json, worker-gpu-cuda-variants.json).
 */
export function referenceOptionsFor(provider: ExecutionProvider): ReferenceModelOptions {
  if (provider === "cpu") return { precision: "float32", attention: "fused" };
  if (provider === "webgpu") return { precision: "float16", attention: "operators", weightBits: 8 };
  return { precision: "float16", attention: "fused" };
}

/** How a worker joins a pool: the registry it heartbeats into, and what it announces. */
export interface WorkerPoolMembership {
  /** The pool's registry (in the database the edges share). */
  registry: WorkerRegistry;
  /** This worker's stable identity. */
  id: string;
  /** The region it serves. */
  region: string;
  /** The link URL edges should use (default: the one it listens on). */
  advertisedLinkUrl?: string;
  /** Time source of the heartbeats. */
  clock: Clock;
}

/** Starts a worker on `port`; with `pool`, it announces itself in the pool's registry. */
export async function startWorker(
  config: Pick<
    Config,
    | "host"
    | "modelPath"
    | "model"
    | "modelSize"
    | "executionProvider"
    | "ortLibrary"
    | "workerCapacity"
    | "maxBatch"
    | "sessionIdleSeconds"
    | "workerSecret"
    | "outputEncodeThreads"
  >,
  port: number,
  log: Logger,
  pool?: WorkerPoolMembership,
): Promise<RunningWorker> {
  const started = performance.now();
  const modelPath = config.modelPath ??
    (config.model === "trained" ? TRAINED_MODEL_PATH : undefined);
  const model = modelPath
    ? await InteractionModel.load(modelPath, {
      name: modelPath,
      executionProvider: config.executionProvider,
      libraryPath: config.ortLibrary,
    })
    : await (() => {
      const built = buildReferenceModel(
        config.modelSize,
        1,
        referenceOptionsFor(config.executionProvider),
      );
      return InteractionModel.load(built.bytes, {
        name: built.name,
        executionProvider: config.executionProvider,
        libraryPath: config.ortLibrary,
      });
    })();
  const registry = new Registry();
  let notify: SessionNotifier = () => {};
  let sessionsChanged = () => {};
  const runtime = new WorkerRuntime(model, {
    capacity: config.workerCapacity,
    maxBatch: config.maxBatch,
    idleTimeoutMs: config.sessionIdleSeconds * 1000,
    onEvent: (sessionId, event) => notify(sessionId, { ...event }),
    onSessionsChanged: () => sessionsChanged(),
    registry,
  });
  // Announced only once it can step at speed (WebGPU: every bucket's graph recorded).
  try {
    await runtime.ready;
  } catch (error) {
    await runtime.release();
    await model.close();
    throw error;
  }
  log.info("model loaded", {
    model: model.name,
    executionProvider: config.executionProvider,
    cache: model.geometry,
    cacheMiB: Math.round(runtime.cacheBytes / 2 ** 20),
    staticSteps: model.staticSteps,
    ms: Math.round(performance.now() - started),
  });
  const app = new Hono();
  let stopping = false;
  const stopMeasuring = new AbortController();
  mountOperationalRoutes(app, registry, () => ({
    role: "worker",
    model: model.name,
    sessions: runtime.sessionCount,
    freeSlots: runtime.freeSlots,
    draining: stopping,
  }), stopMeasuring.signal);
  // Everything but the probes takes the internal links' secret, and no body over 8 MiB.
  app.use("/v1/*", bodyLimit({ maxSize: 8 * 2 ** 20 }), requireSharedSecret(config.workerSecret));
  const outputEncode = new promClient.Histogram({
    name: "worker_output_encode_seconds",
    help: "From a micro-turn's output to it leaving for the edge with its first audio frames " +
      "Opus-encoded (encoder threads' queue included)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2],
    registers: [registry],
  });
  const links = mountWorkerLink(app, runtime, log, {
    encodeThreads: config.outputEncodeThreads,
    onOutputSent: (_output, encodeMs) =>
      encodeMs !== undefined && outputEncode.observe(encodeMs / 1000),
  });
  notify = links.notify;
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
  const linkUrl = `ws://${config.host}:${server.addr.port}/v1/link`;
  const announcer = pool &&
    new WorkerAnnouncer(
      pool.registry,
      () => ({
        id: pool.id,
        region: pool.region,
        linkUrl: pool.advertisedLinkUrl || linkUrl,
        model: model.name,
        contract: MODEL_CONTRACT_VERSION,
        capacity: runtime.capacity,
        freeSlots: runtime.freeSlots,
        stepP99Ms: runtime.recentStepP99Ms,
      }),
      pool.clock,
      log,
    );
  await announcer?.start();
  if (announcer) sessionsChanged = () => announcer.changed();
  log.info("worker listening", { url, pool: pool ? { id: pool.id, region: pool.region } : null });
  let closing: Promise<void> | undefined;
  return {
    url,
    linkUrl,
    runtime,
    close: () =>
      closing ??= (async () => {
        stopping = true;
        // Out of the pool first: no edge places a session here while it stops.
        await announcer?.stop().catch((error) => log.warn("withdraw failed", { error }));
        clearInterval(sweeper);
        stopMeasuring.abort();
        // The edges hear it at once (and move their sessions, in a pool).
        links.closeLinks("worker stopping");
        await server.shutdown();
        links.stopEncoding();
        await runtime.release();
        await model.close();
        await backgroundLm.close();
      })(),
  };
}
