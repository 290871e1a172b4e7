/**
 * `/healthz` and `/metrics`, the same on every role.
 *
 * @module
 */
import type { Hono } from "hono";
import promClient, { type Registry } from "prom-client";
import { watchEventLoopLag } from "../lib/event_loop_lag.ts";

/**
 * Mounts `GET /healthz` (JSON status; 503 `draining` once `status()` says `draining: true`, so a
 * readiness probe takes the process out of rotation while it stops) and `GET /metrics`
 * (Prometheus text, with the process's memory: resident, V8 heap total and used, external; and
 * its event loop's lag, measured until `stop` aborts).
 */
export function mountOperationalRoutes(
  app: Hono,
  registry: Registry,
  status: () => Record<string, unknown>,
  stop: AbortSignal,
): void {
  const lag = new promClient.Histogram({
    name: "process_event_loop_lag_seconds",
    help: "How much later than due the event loop ran a timer (measured every 10 ms)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  watchEventLoopLag((lagMs) => lag.observe(lagMs / 1000), { signal: stop });
  new promClient.Gauge({
    name: "process_memory_bytes",
    help: "Memory of this process by kind (Deno.memoryUsage)",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const usage = Deno.memoryUsage();
      this.set({ kind: "rss" }, usage.rss);
      this.set({ kind: "heap_total" }, usage.heapTotal);
      this.set({ kind: "heap_used" }, usage.heapUsed);
      this.set({ kind: "external" }, usage.external);
    },
  });
  app.get("/healthz", (c) => {
    const now = status();
    return now.draining === true
      ? c.json({ status: "draining", ...now }, 503)
      : c.json({ status: "ok", ...now });
  });
  app.get(
    "/metrics",
    async (c) => c.body(await registry.metrics(), 200, { "content-type": registry.contentType }),
  );
}
