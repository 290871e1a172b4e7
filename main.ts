/**
 * The one entry point: `deno task start [--role=all|edge|worker] [--port=8000] ...`.
 * Role `all` runs a worker and an edge in one process, linked over a real WebSocket, with
 * embedded PGlite unless `DATABASE_URL` names a server. SIGINT/SIGTERM stop it gracefully:
 * no new connections, open micro-turns finished, event log flushed, exit 0.
 *
 * @module
 */
import { ConfigError, loadConfig } from "./config.ts";
import { startEdge } from "./edge/edge_server.ts";
import { openDatabase } from "./store/database.ts";
import { migrate } from "./store/migrations.ts";
import { WorkerRegistry } from "./store/worker_registry.ts";
import { createLogger } from "./lib/logger.ts";
import { systemClock } from "./lib/clock.ts";
import { trimNativeMemoryEvery } from "./lib/native_memory_trim.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.args);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const log = createLogger(config.role, config.logLevel);
  log.info("starting", { role: config.role, pid: Deno.pid });
  if (config.devMode) {
    log.warn(
      "DEV MODE: anyone who can reach this loopback address may create sessions; no rate " +
        "limits; secrets made up where unset. Never use it where others can connect.",
    );
  }
  const madeUp = () => crypto.randomUUID() + crypto.randomUUID();
  // Role `all` links its halves in this process: a secret nobody else needs is made up. (In
  // dev mode, separate roles without WORKER_SECRET leave their link open.)
  if (!config.workerSecret && config.role === "all") config.workerSecret = madeUp();
  const stops: (() => Promise<void>)[] = [];
  const running = new AbortController();
  trimNativeMemoryEvery(config.nativeMemoryTrimSeconds, running.signal, log);
  // Only a role that runs a worker loads it (and with it ONNX Runtime's native library): an
  // edge never does.
  const loadWorker = () => import("./gpu-worker/worker_server.ts");

  if (config.role === "worker") {
    // With a database the edges share, the worker joins the pool: it announces itself there.
    const db = config.databaseUrl ? await openDatabase({ url: config.databaseUrl }) : undefined;
    if (db) await migrate(db);
    const { startWorker } = await loadWorker();
    const worker = await startWorker(
      config,
      config.port,
      log.child("worker"),
      db && {
        registry: WorkerRegistry.withHeartbeat(db, config.workerHeartbeatSeconds),
        id: config.workerId || `${Deno.hostname()}:${config.port}`,
        region: config.region,
        advertisedLinkUrl: config.workerLinkUrl || undefined,
        clock: systemClock,
      },
    );
    stops.push(async () => {
      await worker.close();
      await db?.close();
    });
  } else {
    let workerUrl = config.workerUrl;
    const model = config.modelPath ?? (config.model === "trained" ? "trained" : "minimal");
    if (config.role === "all") {
      const { startWorker } = await loadWorker();
      const worker = await startWorker(config, config.workerPort, log.child("worker"));
      stops.push(worker.close);
      workerUrl ??= worker.linkUrl;
    }
    if (!workerUrl && !config.databaseUrl) {
      log.error(
        "role edge needs WORKER_URL (one worker, e.g. ws://worker:8001/v1/link) or DATABASE_URL " +
          "(the Postgres its pool of workers announces itself in)",
      );
      return 2;
    }
    const db = await openDatabase({ url: config.databaseUrl, pgliteDataDir: config.pgliteDir });
    const applied = await migrate(db);
    log.info("database ready", {
      engine: db.engine,
      location: config.databaseUrl ? "DATABASE_URL" : config.pgliteDir,
      migrationsApplied: applied,
    });
    // Outside dev mode the configuration refused a missing TOKEN_SECRET.
    const tokenSecret = config.tokenSecret ?? madeUp();
    const edge = startEdge({ ...config, tokenSecret }, {
      port: config.port,
      db,
      workerUrl,
      model,
      clock: systemClock,
      log: log.child("edge"),
    });
    stops.unshift(async () => {
      await edge.close();
      await db.close();
    });
    console.log(`\n  Ready: open ${edge.url.replace("127.0.0.1", "localhost")}/ in a browser\n`);
  }

  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    running.abort();
    (async () => {
      for (const close of stops) await close();
    })().then(stopped.resolve, (error) => {
      log.error("shutdown failed", { error });
      stopped.resolve();
    });
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  await stopped.promise;
  log.info("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
