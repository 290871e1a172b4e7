import assert from "node:assert/strict";
import { type RunningWorker, startWorker } from "../gpu-worker/worker_server.ts";
import { type RunningEdge, startEdge } from "../edge/edge_server.ts";
import { WorkerRegistry } from "../store/worker_registry.ts";
import { MODEL_CONTRACT_VERSION } from "../gpu-worker/model/model_contract.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { ManualClock, systemClock } from "../lib/clock.ts";
import { createSession, ProtocolClient } from "./support/protocol_client.ts";
import { TEST_TOKEN_SECRET } from "./support/test_system.ts";

Deno.test("a pool of workers: sessions spread over the edge's region, never onto another contract, past a dead worker; a full pool refuses with capacity and a retry-after", async () => {
  const db = await openDatabase({ pgliteDataDir: "memory://" });
  await migrate(db);
  const log = createLogger("test", "error");
  const config = ConfigSchema.parse({
    host: "127.0.0.1",
    logLevel: "error",
    region: "eu",
    workerCapacity: 4,
    workerHeartbeatSeconds: 0.2,
  });
  const registry = new WorkerRegistry(db, config.workerHeartbeatSeconds * 3000);
  const workers: RunningWorker[] = [];
  const edges: RunningEdge[] = [];
  const clients: ProtocolClient[] = [];
  try {
    for (const id of ["w-a", "w-b"]) {
      workers.push(
        await startWorker(config, 0, log, { registry, id, region: "eu", clock: systemClock }),
      );
    }
    // A worker of an older contract with room to spare, whose link goes nowhere: never chosen.
    await new WorkerRegistry(db, 3_600_000).announce({
      id: "w-old",
      region: "eu",
      linkUrl: "ws://127.0.0.1:9/v1/link",
      model: "old",
      contract: "interaction-v2",
      capacity: 100,
      freeSlots: 100,
      stepP99Ms: 0,
      draining: false,
    }, Date.now());
    // A worker killed a moment ago: its announcement has not expired, it has the most room, and
    // nothing answers at its address. Each session tries it first and goes on to a live one.
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (dead.addr as Deno.NetAddr).port;
    dead.close();
    await new WorkerRegistry(db, 3_600_000).announce({
      id: "w-dead",
      region: "eu",
      linkUrl: `ws://127.0.0.1:${deadPort}/v1/link`,
      model: "reference-tiny-s1",
      contract: MODEL_CONTRACT_VERSION,
      capacity: 100,
      freeSlots: 100,
      stepP99Ms: 0,
      draining: false,
    }, Date.now());
    // A stopped clock: the edge reads the registry once and counts its own placements, so where
    // each session lands does not depend on when the workers' heartbeats arrive.
    const startEdgeIn = (region: string) => {
      const edge = startEdge({ ...config, region, tokenSecret: TEST_TOKEN_SECRET }, {
        port: 0,
        db,
        model: "reference",
        clock: new ManualClock(Date.now()),
        log,
      });
      edges.push(edge);
      return edge;
    };
    const edge = startEdgeIn("eu");
    for (let i = 0; i < 6; i++) clients.push((await ProtocolClient.open(edge.url)).client);
    const placed = workers.map((w) => w.runtime.sessionCount);
    assert.deepEqual(placed, [3, 3], `sessions per worker: ${placed}`);

    for (let i = 0; i < 2; i++) clients.push((await ProtocolClient.open(edge.url)).client);
    assert.deepEqual(workers.map((w) => w.runtime.sessionCount), [4, 4]);
    const { sessionId, token } = await createSession(edge.url);
    const refused = await ProtocolClient.connect(edge.url, sessionId, token);
    const error = await refused.message("error");
    assert.equal(error.code, "capacity");
    assert.equal((error as { retryAfterSeconds?: number }).retryAfterSeconds, 1);
    assert.equal((await refused.closedWith()).code, 1013);

    // An edge whose region has no workers and no spill-over refuses the same way.
    const elsewhere = startEdgeIn("ap");
    const lonely = await createSession(elsewhere.url);
    const far = await ProtocolClient.connect(elsewhere.url, lonely.sessionId, lonely.token);
    const farError = await far.message("error");
    assert.equal(farError.code, "capacity");
    assert.match(String(farError.message), /every worker of ap is full/);
  } finally {
    for (const client of clients) client.close();
    for (const edge of edges) await edge.close();
    for (const worker of workers) await worker.close();
    assert.deepEqual((await registry.live(Date.now())).map((w) => w.id), ["w-dead", "w-old"]);
    await db.close();
  }
});
