/**
 * `/healthz` and `/metrics`, the same on every role.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Registry } from "prom-client";

/**
 * Mounts `GET /healthz` (JSON status; 503 `draining` once `status()` says `draining: true`, so a
 * readiness probe takes the process out of rotation while it stops) and `GET /metrics`
 * (Prometheus text).
 */
export function mountOperationalRoutes(
  app: Hono,
  registry: Registry,
  status: () => Record<string, unknown>,
): void {
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
