/**
 * The edge role: session endpoints, the demo page, `/healthz` and `/metrics`, one worker link,
 * and the database the sessions and their events live in.
 *
 * @module
 */
import { Hono } from "hono";
import { Registry } from "prom-client";
import { createEdgeMetrics, registerPoolHeadroom } from "./edge_metrics.ts";
import { EdgeSession } from "./edge_session.ts";
import { SessionTokens } from "./session_tokens.ts";
import { OperatorAuth } from "./operator_auth.ts";
import { SessionAdmission } from "./session_admission.ts";
import { ApiKeyStore } from "../store/api_keys.ts";
import { bodyLimit } from "hono/body-limit";
import { PooledWorkerLinks, SingleWorkerLinks, type WorkerLinks } from "./worker_links.ts";
import { takesSessions } from "./worker_placement.ts";
import { WorkerRegistry } from "../store/worker_registry.ts";
import { MODEL_CONTRACT_VERSION } from "../gpu-worker/model/model_contract.ts";
import { mountSessionRoutes, type SessionRouteDeps } from "../routes/session_routes.ts";
import { mountRealtimeRoutes } from "../routes/realtime_routes.ts";
import { mountOperationalRoutes } from "../routes/operational_routes.ts";
import { mountDemoPage } from "../routes/demo_page_route.ts";
import { SessionStore } from "../store/session_store.ts";
import { EventLog } from "../store/event_log.ts";
import { SessionLeases } from "../store/session_leases.ts";
import { CompactionStore, ExtractiveSummarizer } from "../store/compactions.ts";
import { applyRetention } from "../store/retention.ts";
import { BackgroundTasks } from "../background/background_tasks.ts";
import { TaskStore } from "../background/task_store.ts";
import { ChatCompletionsRunner } from "../background/chat_runner.ts";
import { deferredToolHost, type McpServerConfig, McpToolHost } from "../background/mcp_tools.ts";
import type { Database } from "../store/database.ts";
import type { Config } from "../config.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

/** Largest HTTP request body the edge reads, bytes. */
const MAX_BODY_BYTES = 256 * 1024;

/** A running edge. */
export interface RunningEdge {
  /** The HTTP base URL. */
  url: string;
  /** Live sessions by id. */
  live: Map<string, EdgeSession>;
  /**
   * Graceful stop: refuse new connections, finish every session's open micro-turn and its
   * outstanding outputs, close the sockets (1001), flush the event log, stop the server.
   */
  close(): Promise<void>;
}

/**
 * Starts an edge on `port` against `db`: its sessions go to the worker at `workerUrl`, or,
 * without one, to the pool's workers announced in `db` (placed by region and load).
 */
export function startEdge(
  config:
    & Pick<
      Config,
      | "host"
      | "tokenTtlSeconds"
      | "region"
      | "maxMessageBytes"
      | "maxBufferedBytes"
      | "resumeWindowSeconds"
      | "edgeId"
      | "leaseSeconds"
      | "retentionMaxAgeDays"
      | "retentionMaxEvents"
      | "backgroundUrl"
      | "backgroundModel"
      | "backgroundApiKey"
      | "backgroundTimeoutSeconds"
      | "delegateCooldownSeconds"
      | "mcpServers"
      | "tlsCertFile"
      | "tlsKeyFile"
      | "regionSpillover"
      | "workerHeartbeatSeconds"
      | "devMode"
      | "jwtIssuer"
      | "jwtAudience"
      | "jwtKeyFile"
      | "maxLiveSessions"
      | "maxSessionsPerOwner"
      | "sessionCreatesPerMinute"
      | "connectsPerMinute"
      | "clientIdleSeconds"
      | "trustedProxyHops"
    >
    & { tokenSecret: string; workerSecret?: string },
  deps: {
    port: number;
    db: Database;
    workerUrl?: string;
    model: string;
    clock: Clock;
    log: Logger;
  },
): RunningEdge {
  const { db, clock, log } = deps;
  const registry = new Registry();
  const metrics = createEdgeMetrics(registry);
  let workers: WorkerLinks;
  if (deps.workerUrl) {
    workers = new SingleWorkerLinks(deps.workerUrl, log.child("link"), config.workerSecret);
  } else {
    const pool = WorkerRegistry.withHeartbeat(db, config.workerHeartbeatSeconds);
    workers = new PooledWorkerLinks({
      registry: pool,
      placement: {
        contract: MODEL_CONTRACT_VERSION,
        region: config.region,
        spillover: config.regionSpillover.split(",").map((r) => r.trim()).filter(Boolean),
        retryAfterSeconds: Math.max(1, Math.ceil(config.workerHeartbeatSeconds)),
      },
      clock,
      log: log.child("link"),
      secret: config.workerSecret,
    });
    registerPoolHeadroom(
      registry,
      async () =>
        (await pool.live(clock.now())).filter((w) => takesSessions(w, MODEL_CONTRACT_VERSION)),
    );
  }
  const eventLog = new EventLog(db, {
    onError: (error) => log.error("event log write failed; will retry", { error }),
  });
  const live = new Map<string, EdgeSession>();
  const leases = new SessionLeases(
    db,
    config.edgeId || `${Deno.hostname()}:${deps.port}`,
    config.leaseSeconds * 1000,
  );
  // Leases of live sessions are renewed three times a lease, so a live session never lapses.
  const renewal = setInterval(() => {
    const ids = [...live].filter(([, s]) => s instanceof EdgeSession).map(([id]) => id);
    leases.renew(ids, clock.now()).catch((error) => log.warn("lease renewal failed", { error }));
  }, (config.leaseSeconds * 1000) / 3);
  // Retention runs hourly (any edge may run it; the deletes are idempotent).
  const policy = {
    maxAgeDays: config.retentionMaxAgeDays,
    maxEventsPerSession: config.retentionMaxEvents,
  };
  const retain = () => {
    if (!policy.maxAgeDays && !policy.maxEventsPerSession) return;
    applyRetention(db, policy, clock.now()).then(
      (removed) => (removed.sessions || removed.events) && log.info("retention", { ...removed }),
      (error) => log.warn("retention failed", { error }),
    );
  };
  retain();
  const retention = setInterval(retain, 3_600_000);
  const mcpServers = JSON.parse(config.mcpServers) as McpServerConfig[];
  const tools = mcpServers.length ? deferredToolHost(McpToolHost.connect(mcpServers)) : undefined;
  const taskStore = new TaskStore(db);
  const backgroundTasks = new BackgroundTasks({
    store: taskStore,
    runner: new ChatCompletionsRunner({
      // By default the worker's own OpenAI-compatible endpoint serves the background model.
      baseUrl: config.backgroundUrl ||
        (deps.workerUrl ?? "").replace(/^ws/, "http").replace(/\/link$/, ""),
      // The worker's own endpoint takes the internal links' secret.
      apiKey: config.backgroundApiKey || (config.backgroundUrl ? undefined : config.workerSecret),
      model: config.backgroundModel,
      tools,
    }),
    timeoutMs: config.backgroundTimeoutSeconds * 1000,
    log: log.child("background"),
  });
  let draining = false;
  const stopMeasuring = new AbortController();
  const app = new Hono();
  mountOperationalRoutes(app, registry, () => ({
    role: "edge",
    database: db.engine,
    workerLinks: workers.status(),
    draining,
    sessions: live.size,
    pendingEvents: eventLog.pendingCount,
  }), stopMeasuring.signal);
  const sessionRoutes: SessionRouteDeps = {
    sessions: new SessionStore(db),
    tokens: new SessionTokens(config.tokenSecret, clock),
    tokenTtlSeconds: config.tokenTtlSeconds,
    region: config.region,
    model: deps.model,
    live,
    leases,
    compactions: { store: new CompactionStore(db), summarizer: new ExtractiveSummarizer() },
    background: {
      tasks: backgroundTasks,
      store: taskStore,
      cooldownMs: config.delegateCooldownSeconds * 1000,
    },
    draining: () => draining,
    sessionOptions: {
      workers,
      eventLog,
      metrics,
      clock,
      log: log.child("session"),
      maxMessageBytes: config.maxMessageBytes,
      maxBufferedBytes: config.maxBufferedBytes,
      drainTimeoutMs: 2000,
      resumeWindowMs: config.resumeWindowSeconds * 1000,
    },
    operators: new OperatorAuth({
      devMode: config.devMode,
      apiKeys: new ApiKeyStore(db),
      jwt: config.jwtIssuer
        ? {
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          key: Deno.readTextFileSync(config.jwtKeyFile).trim(),
        }
        : undefined,
    }),
    clientIdleMs: config.clientIdleSeconds * 1000,
    trustedProxyHops: config.trustedProxyHops,
    // Dev mode trusts its loopback: no rate limits, no caps.
    admission: new SessionAdmission(
      config.devMode
        ? {
          maxLiveSessions: 0,
          maxSessionsPerOwner: 0,
          sessionCreatesPerMinute: 0,
          connectsPerMinute: 0,
        }
        : config,
      clock,
    ),
    log,
  };
  // No HTTP body on the edge is bigger than a Realtime session's settings.
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json({ code: "message_too_big", message: `body over ${MAX_BODY_BYTES} bytes` }, 413),
    }),
  );
  mountSessionRoutes(app, sessionRoutes);
  mountRealtimeRoutes(app, sessionRoutes);
  mountDemoPage(app);
  app.onError((error, c) => {
    log.error("request failed", { path: c.req.path, error });
    return c.json({ code: "internal_error", message: "internal error" }, 500);
  });
  const tls = config.tlsCertFile && config.tlsKeyFile
    ? {
      cert: Deno.readTextFileSync(config.tlsCertFile),
      key: Deno.readTextFileSync(config.tlsKeyFile),
    }
    : undefined;
  const server = Deno.serve(
    { hostname: config.host, port: deps.port, onListen: () => {}, ...tls },
    app.fetch,
  );
  const url = `${tls ? "https" : "http"}://${config.host}:${server.addr.port}`;
  log.info("edge listening", {
    url,
    database: db.engine,
    workers: deps.workerUrl ?? `pool (region ${config.region})`,
  });
  let closing: Promise<void> | undefined;
  return {
    url,
    live,
    close: () =>
      closing ??= (async () => {
        draining = true;
        clearInterval(renewal);
        clearInterval(retention);
        stopMeasuring.abort();
        const ids = [...live.keys()];
        await Promise.all([...live.values()].map((s) => s.end?.("server shutting down", 1001)));
        await Promise.all(ids.map((id) => leases.release(id).catch(() => {})));
        await backgroundTasks.close();
        await tools?.close();
        workers.close();
        await eventLog.close();
        await server.shutdown();
      })(),
  };
}
