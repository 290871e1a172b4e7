import assert from "node:assert/strict";
import { type WorkerAnnouncement, WorkerRegistry } from "./worker_registry.ts";
import { TEST_DATABASE_TARGETS } from "../tests/support/test_databases.ts";

const announcement = (id: string, extra: Partial<WorkerAnnouncement> = {}): WorkerAnnouncement => ({
  id,
  region: "eu",
  linkUrl: `ws://${id}:8001/v1/link`,
  model: "reference-tiny-s1",
  contract: "interaction-v3",
  capacity: 64,
  freeSlots: 64,
  stepP99Ms: 4.5,
  draining: false,
  ...extra,
});

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name:
      `[${target.name}] worker registry: heartbeats renew, a silent worker expires, a withdrawn one is gone`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      try {
        const registry = new WorkerRegistry(db, 10_000);
        const t0 = 1_700_000_000_000;
        await registry.announce(announcement("w1"), t0);
        await registry.announce(announcement("w2"), t0);
        assert.deepEqual((await registry.live(t0 + 1)).map((w) => w.id), ["w1", "w2"]);
        // w1 heartbeats with new load and starts draining; w2 falls silent.
        await registry.announce(
          announcement("w1", { freeSlots: 60, stepP99Ms: 7.25, draining: true }),
          t0 + 8_000,
        );
        const live = await registry.live(t0 + 12_000);
        assert.deepEqual(live.map((w) => w.id), ["w1"]);
        assert.equal(live[0].freeSlots, 60);
        assert.equal(live[0].stepP99Ms, 7.25);
        assert.equal(live[0].draining, true);
        assert.equal(live[0].heartbeatAt.getTime(), t0 + 8_000);
        assert.equal(live[0].linkUrl, "ws://w1:8001/v1/link");
        await registry.withdraw("w1");
        assert.deepEqual(await registry.live(t0 + 12_000), []);
      } finally {
        await db.close();
      }
    },
  });
}

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name:
      `[${target.name}] worker registry: edges reserve slots, never past the last one, until the worker's heartbeat states its count`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      try {
        const registry = new WorkerRegistry(db, 10_000);
        const t0 = 1_700_000_000_000;
        await registry.announce(announcement("w1", { freeSlots: 3 }), t0);
        // Two edges placing at once: three succeed, whoever comes later finds it full.
        const taken = await Promise.all(Array.from({ length: 5 }, () => registry.reserve("w1")));
        assert.equal(taken.filter(Boolean).length, 3);
        assert.equal((await registry.live(t0 + 1))[0].freeSlots, 0);
        assert.equal(await registry.reserve("w-unknown"), false);
        await registry.announce(announcement("w1", { freeSlots: 1 }), t0 + 1000);
        assert.equal((await registry.live(t0 + 1001))[0].freeSlots, 1);
      } finally {
        await db.close();
      }
    },
  });
}
