/**
 * `/healthz` and `/metrics`, the same on every role.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Registry } from "prom-client";

/** Mounts `GET /healthz` (JSON status) and `GET /metrics` (Prometheus text). */
export function mountOperationalRoutes(
  app: Hono,
  registry: Registry,
  status: () => Record<string, unknown>,
): void {
  app.get("/healthz", (c) => c.json({ status: "ok", ...status() }));
  app.get(
    "/metrics",
    async (c) => c.body(await registry.metrics(), 200, { "content-type": registry.contentType }),
  );
}
