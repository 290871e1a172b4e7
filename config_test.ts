import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const STRONG = "k3v9-Qm2x7Lp0Zr5-Tw8Yb1Nc4Hd6Fs_3";

Deno.test("configuration: defaults, environment, and flags over environment", () => {
  const defaults = loadConfig(["--dev-mode=true"], env({}));
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
      TOKEN_SECRET: STRONG,
      WORKER_SECRET: STRONG.toUpperCase(),
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

Deno.test("configuration: outside dev mode the secrets are required and strong", () => {
  const refused = (args: string[], vars: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => loadConfig(args, env(vars)),
      (e) => e instanceof ConfigError && pattern.test(e.message),
    );
  refused(["--role=edge"], {}, /TOKEN_SECRET: required[\s\S]*WORKER_SECRET: required/);
  refused(["--role=worker"], { WORKER_SECRET: "a".repeat(40) }, /WORKER_SECRET: too weak/);
  refused(
    ["--role=edge"],
    { TOKEN_SECRET: "short-but-16-chars", WORKER_SECRET: STRONG },
    /TOKEN_SECRET: too weak/,
  );
  // Role all links in-process: it needs no worker secret, and makes one up.
  assert.equal(loadConfig([], env({ TOKEN_SECRET: STRONG })).workerSecret, undefined);
  // Dev mode serves loopback only.
  refused(["--dev-mode=true", "--host=0.0.0.0"], {}, /loopback only/);
  assert.equal(loadConfig(["--dev-mode=true"], env({})).devMode, true);
});
