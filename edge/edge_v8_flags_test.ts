import { equal } from "node:assert/strict";
import { EDGE_V8_FLAGS } from "./edge_v8_flags.ts";

const deploy = new URL("../deploy/", import.meta.url);

Deno.test("the systemd edge unit runs the edge with the edge's V8 flags", async () => {
  const unit = await Deno.readTextFile(new URL("systemd/interaction-edge.service", deploy));
  const flags = unit.match(/^Environment=.*\bDENO_V8_FLAGS=(\S+)/m)?.[1];
  equal(flags, EDGE_V8_FLAGS);
});

Deno.test("the Kubernetes edge deployment runs the edge with the edge's V8 flags", async () => {
  const manifest = await Deno.readTextFile(new URL("kubernetes/edge.yaml", deploy));
  const flags = manifest.match(/\{ name: DENO_V8_FLAGS, value: "?([^"}\s]+)"? \}/)?.[1];
  equal(flags, EDGE_V8_FLAGS);
});
