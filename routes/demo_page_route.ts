/**
 * Serves the browser side: the demo page at `/`, its script at `/client/demo.js`, the SDK
 * at `/client/sdk.js` and libopus for its fallback encoder at `/client/opus.wasm`. The TypeScript under client/ is bundled for the browser with esbuild on
 * first request and kept in memory (no build step, no committed bundle to drift).
 *
 * @module
 */
import type { Hono } from "hono";
import { createRequire } from "node:module";
import { opusWasmPath } from "../pipeline/opus_codec.ts";

const CLIENT = new URL("../client/", import.meta.url);
const bundles = new Map<string, Promise<string>>();
/** Builds run one at a time: each stops esbuild's service when done, so it must be alone. */
let building: Promise<unknown> = Promise.resolve();

/** Bundles one client entry point into a browser ES module (one build at a time). */
function bundle(entry: string): Promise<string> {
  const next = building.catch(() => {}).then(() => build(entry));
  building = next;
  return next;
}

async function build(entry: string): Promise<string> {
  // Loaded on the first request for a bundle: an edge nobody asks for the page never holds it.
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [new URL(entry, CLIENT).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    minify: false,
    sourcemap: "inline",
    // Server-only branches (libopus from node_modules) import these; browsers never run them.
    external: ["node:*"],
  });
  await esbuild.stop();
  return result.outputFiles[0].text;
}

/** Mounts `/`, `/client/demo.js` and `/client/sdk.js`. */
export function mountDemoPage(app: Hono): void {
  app.get("/", async (c) => c.html(await Deno.readTextFile(new URL("index.html", CLIENT))));
  const script = (path: string, entry: string) =>
    app.get(path, async (c) => {
      if (!bundles.has(entry)) bundles.set(entry, bundle(entry));
      try {
        const code = await bundles.get(entry)!;
        return c.body(code, 200, { "content-type": "text/javascript; charset=utf-8" });
      } catch (error) {
        bundles.delete(entry);
        throw error;
      }
    });
  script("/client/demo.js", "demo.ts");
  script("/client/sdk.js", "sdk/index.ts");
  // libopus for browsers without WebCodecs Opus (the SDK's fallback encoder).
  app.get("/client/opus.wasm", async (c) => {
    const path = opusWasmPath(createRequire(import.meta.url).resolve);
    return c.body(await Deno.readFile(path), 200, {
      "content-type": "application/wasm",
      "cache-control": "public, max-age=86400",
    });
  });
}
