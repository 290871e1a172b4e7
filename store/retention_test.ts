import assert from "node:assert/strict";
import { applyRetention } from "./retention.ts";
import { CompactionStore, ExtractiveSummarizer } from "./compactions.ts";
import { EventLog } from "./event_log.ts";
import { SessionStore } from "./session_store.ts";
import { TEST_DATABASE_TARGETS } from "../tests/support/test_databases.ts";

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] retention deletes old sessions and only compacted events`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      try {
        const sessions = new SessionStore(db);
        const log = new EventLog(db);
        // Both sessions are created now; `busy` stays active for 39 more days, `old` does not.
        const created = Date.now();
        const now = created + 40 * 86_400_000;
        const old = await sessions.create({ region: "r", model: "m" });
        const busy = await sessions.create({ region: "r", model: "m" });
        for (const { id } of [old, busy]) {
          await log.open(id);
          for (let turn = 0; turn < 30; turn++) {
            log.append(id, {
              kind: "micro_turn",
              microTurn: turn,
              wallTime: new Date(created + (id === old.id ? 0 : 39 * 86_400_000) + turn * 200),
              payload: { output: { text: "" } },
            });
          }
        }
        await log.flush();
        // Of `busy`'s 30 events, compaction covers the first 20.
        await new CompactionStore(db).compact(busy.id, new ExtractiveSummarizer(), 10);

        const result = await applyRetention(db, { maxAgeDays: 30, maxEventsPerSession: 5 }, now);
        assert.equal(result.sessions, 1);
        assert.equal(await sessions.get(old.id), undefined);
        const kept = (await log.read(busy.id)).map((e) => e.seq);
        // Only compacted events (seq <= 19) beyond the newest 5 go: the last 10 stay.
        assert.equal(result.events, 20);
        assert.deepEqual(kept, [...Array(10).keys()].map((i) => i + 20));
        assert.equal((await log.open(busy.id)).nextMicroTurn, 30, "numbering goes on");
      } finally {
        await db.close();
      }
    },
  });
}
