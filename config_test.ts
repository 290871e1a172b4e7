import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("configuration: defaults, environment, and flags over environment", () => {
  const defaults = loadConfig([], env({}));
  assert.equal(defaults.role, "all");
  assert.equal(defaults.port, 8000);
  assert.equal(defaults.maxMessageBytes, 65536);
  assert.equal(defaults.databaseUrl, undefined);
  const configured = loadConfig(
    ["--role=edge", "--worker-url=ws://w:8001/v1/link"],
    env({
      ROLE: "worker",
      PORT: "9000",
      ORT_EP: "webgpu",
    }),
  );
  assert.equal(configured.role, "edge");
  assert.equal(configured.port, 9000);
  assert.equal(configured.executionProvider, "webgpu");
  assert.equal(configured.workerUrl, "ws://w:8001/v1/link");
});

Deno.test("configuration: every invalid or unknown setting is named in one error", () => {
  assert.throws(
    () => loadConfig(["--rol=edge"], env({ PORT: "eighty", ORT_EP: "tpu" })),
    (error) =>
      error instanceof ConfigError && /--rol=edge/.test(error.message) &&
      /PORT/.test(error.message) && /ORT_EP/.test(error.message),
  );
});
