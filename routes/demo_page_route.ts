/**
 * `GET /`: the demo page, served from client/.
 *
 * @module
 */
import type { Hono } from "hono";

const PAGE = new URL("../client/index.html", import.meta.url);

/** Mounts the demo page at `/`. */
export function mountDemoPage(app: Hono): void {
  app.get("/", async (c) => c.html(await Deno.readTextFile(PAGE)));
}
