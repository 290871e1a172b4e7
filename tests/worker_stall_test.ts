import assert from "node:assert/strict";
import { startEdge } from "../edge/edge_server.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { systemClock } from "../lib/clock.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { ProtocolClient } from "./support/protocol_client.ts";
import { startRole } from "./support/main_process.ts";
import { TEST_TOKEN_SECRET } from "./support/test_system.ts";

Deno.test("a worker that stops answering (its process frozen, its socket open) is given up within seconds", async () => {
  const worker = await startRole(["--role=worker"]);
  const db = await openDatabase({ pgliteDataDir: "memory://" });
  await migrate(db);
  const edge = startEdge(
    {
      ...ConfigSchema.parse({ logLevel: "error", devMode: "true" }),
      tokenSecret: TEST_TOKEN_SECRET,
    },
    {
      port: 0,
      db,
      workerUrl: worker.linkUrl,
      model: "reference",
      clock: systemClock,
      log: createLogger("test", "error"),
    },
  );
  try {
    const { client } = await ProtocolClient.open(edge.url);
    worker.child.kill("SIGSTOP");
    const frozenAt = performance.now();
    // Without the link's pings the session would wait for TCP to give up (minutes).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const error = await Promise.race([
      client.message("error"),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error("the stalled worker was not noticed in 10 s")),
          10_000,
        )
      ),
    ]).finally(() => clearTimeout(timer));
    assert.equal(error.code, "worker_unavailable");
    const noticedMs = performance.now() - frozenAt;
    assert.ok(noticedMs < 10_000, `noticed after ${noticedMs} ms`);
  } finally {
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGKILL");
    await worker.child.status;
    await edge.close();
    await db.close();
  }
});
