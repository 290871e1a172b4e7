import assert from "node:assert/strict";
import { WorkerRegistry } from "../store/worker_registry.ts";
import { MODEL_CONTRACT_VERSION } from "../gpu-worker/model/model_contract.ts";
import { createSession, ProtocolClient } from "./support/protocol_client.ts";
import { startTestPool } from "./support/test_pool.ts";

Deno.test("a pool of workers: sessions spread over the edge's region, never onto another contract, past a dead worker; a full pool refuses with capacity and a retry-after", async () => {
  const pool = await startTestPool();
  const { db, registry, workers } = pool;
  const clients: ProtocolClient[] = [];
  try {
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
    const edge = pool.startEdge("eu");
    // The scale-out signals: each worker's free slots, the pool's headroom per region (the dead
    // worker counts until its announcement expires; the old contract's never does).
    const metrics = async (url: string) => await (await fetch(`${url}/metrics`)).text();
    assert.match(await metrics(workers[0].url), /^worker_free_slots 4$/m);
    const edgeMetrics = await metrics(edge.url);
    assert.match(edgeMetrics, /^edge_pool_free_slots\{region="eu"\} 108$/m);
    assert.match(edgeMetrics, /^edge_pool_workers\{region="eu"\} 3$/m);
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
    const elsewhere = pool.startEdge("ap");
    const lonely = await createSession(elsewhere.url);
    const far = await ProtocolClient.connect(elsewhere.url, lonely.sessionId, lonely.token);
    const farError = await far.message("error");
    assert.equal(farError.code, "capacity");
    assert.match(String(farError.message), /every worker of ap is full/);

    // A stopping worker withdraws its announcement.
    for (const client of clients) client.close();
    for (const worker of workers.splice(0)) await worker.close();
    assert.deepEqual((await registry.live(Date.now())).map((w) => w.id), ["w-dead", "w-old"]);
  } finally {
    for (const client of clients) client.close();
    await pool.close();
  }
});
