import assert from "node:assert/strict";
import { EventLog } from "./event_log.ts";
import { SessionStore } from "./session_store.ts";
import { TEST_DATABASE_TARGETS } from "../tests/support/test_databases.ts";
import { seededRandom } from "../lib/seeded_random.ts";

const SESSIONS = 200;
const EVENTS = 40;

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] ${SESSIONS} sessions writing at once: no event lost or reordered`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      try {
        const store = new SessionStore(db);
        const ids = await Promise.all(
          Array.from({ length: SESSIONS }, () => store.create({ region: "r", model: "m" })),
        ).then((rows) => rows.map((r) => r.id));
        // Four edges' logs, each owning a quarter of the sessions, flushing on their own.
        const logs = Array.from({ length: 4 }, () => new EventLog(db, { flushIntervalMs: 5 }));
        const owner = (i: number) => logs[i % logs.length];
        await Promise.all(ids.map((id, i) => owner(i).open(id)));
        const random = seededRandom(3);
        const next = new Array(SESSIONS).fill(0);
        let remaining = SESSIONS * EVENTS;
        while (remaining > 0) {
          // A burst of appends across random sessions, then let the loop breathe.
          for (let k = 0; k < 200 && remaining > 0; k++) {
            const i = Math.floor(random() * SESSIONS);
            if (next[i] === EVENTS) continue;
            owner(i).append(ids[i], {
              kind: "user_text",
              wallTime: new Date(),
              payload: { n: next[i]++ },
            });
            remaining--;
          }
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await Promise.all(logs.map((log) => log.close()));
        for (const id of ids) {
          const events = await logs[0].read(id);
          assert.deepEqual(events.map((e) => e.seq), [...Array(EVENTS).keys()]);
          assert.deepEqual(events.map((e) => e.payload.n), [...Array(EVENTS).keys()]);
        }
      } finally {
        await db.close();
      }
    },
  });
}
