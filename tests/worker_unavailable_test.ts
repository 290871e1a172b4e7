import assert from "node:assert/strict";
import { startEdge } from "../edge/edge_server.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { systemClock } from "../lib/clock.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { createSession, ProtocolClient } from "./support/protocol_client.ts";
import { TEST_TOKEN_SECRET } from "./support/test_system.ts";

Deno.test("an unreachable worker refuses the session with worker_unavailable; the edge stays up", async () => {
  const db = await openDatabase({ pgliteDataDir: "memory://" });
  await migrate(db);
  // A port nothing listens on: bind one, note it, release it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const edge = startEdge(
    {
      ...ConfigSchema.parse({ logLevel: "error", devMode: "true" }),
      tokenSecret: TEST_TOKEN_SECRET,
    },
    {
      port: 0,
      db,
      workerUrl: `ws://127.0.0.1:${deadPort}/v1/link`,
      model: "minimal",
      clock: systemClock,
      log: createLogger("test", "error"),
    },
  );
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const { sessionId, token } = await createSession(edge.url);
      const client = await ProtocolClient.connect(edge.url, sessionId, token);
      const error = await client.message("error");
      assert.equal(error.code, "worker_unavailable");
      assert.equal((await client.closedWith()).code, 4503);
    }
    const health = await (await fetch(`${edge.url}/healthz`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.sessions, 0);
  } finally {
    await edge.close();
    await db.close();
  }
});
