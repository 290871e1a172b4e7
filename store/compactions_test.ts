import assert from "node:assert/strict";
import { CompactionStore, ExtractiveSummarizer, sessionContext } from "./compactions.ts";
import { EventLog } from "./event_log.ts";
import { SessionStore } from "./session_store.ts";
import { TEST_DATABASE_TARGETS } from "../tests/support/test_databases.ts";

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name:
      `[${target.name}] compaction summarizes the old part, pins facts, keeps the recent window`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      try {
        const { id } = await new SessionStore(db).create({ region: "test", model: "m" });
        const log = new EventLog(db);
        await log.open(id);
        let turn = 0;
        const at = () => new Date(1_700_000_000_000 + turn * 200);
        const say = (text: string) =>
          log.append(id, { kind: "user_text", wallTime: at(), payload: { text } });
        const microTurns = (n: number, text = "") => {
          for (let i = 0; i < n; i++, turn++) {
            log.append(id, {
              kind: "micro_turn",
              microTurn: turn,
              wallTime: at(),
              payload: { input: {}, output: { text: i === 0 ? text : "" } },
            });
          }
        };
        say("hello there");
        microTurns(5, "hi!");
        say("my name is Ada and I live in Lyon");
        microTurns(10, "nice to meet you Ada");
        say("what's the weather like?");
        microTurns(5);
        await log.flush();

        const store = new CompactionStore(db);
        const summarizer = new ExtractiveSummarizer();
        const first = await store.compact(id, summarizer, 4);
        assert.ok(first);
        assert.equal(first.id, 0);
        assert.equal(first.coversToMicroTurn, 15, "all but the last 4 micro-turns");
        assert.deepEqual(first.pinnedFacts, ["my name is Ada and I live in Lyon"]);
        assert.match(first.summary, /user: hello there/);
        assert.equal(await store.compact(id, summarizer, 4), undefined, "nothing new to compact");

        // More conversation, a second compaction: the earlier facts are still pinned.
        say("remember that I take my coffee black");
        microTurns(12, "noted");
        await log.flush();
        const second = await store.compact(id, summarizer, 4);
        assert.equal(second?.id, 1);
        assert.deepEqual(second?.pinnedFacts, [
          "my name is Ada and I live in Lyon",
          "remember that I take my coffee black",
        ]);
        const context = await sessionContext(store, id, 10_000);
        assert.equal(context.compaction?.id, 1);
        assert.match(context.text, /^summary: /);
        assert.match(context.text, /facts: my name is Ada/);
        // Only events after the compaction are listed verbatim: here the last 4 micro-turns,
        // which carry no text, so the context ends with the pinned facts.
        assert.ok(context.text.split("\n").at(-1)!.startsWith("facts: "));
        say("and I prefer trains");
        await log.flush();
        const withRecent = await sessionContext(store, id, 10_000);
        assert.equal(withRecent.text.split("\n").at(-1), "user: and I prefer trains");
        // Deleting the session removes its compactions too.
        await new SessionStore(db).delete(id);
        assert.equal(await store.latest(id), undefined);
      } finally {
        await db.close();
      }
    },
  });
}
