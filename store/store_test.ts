import assert from "node:assert/strict";
import { TEST_DATABASE_TARGETS } from "../tests/support/test_databases.ts";
import { migrate, MigrationChecksumError, readMigrations } from "./migrations.ts";
import { SessionStore } from "./session_store.ts";
import { EventLog } from "./event_log.ts";
import type { Database } from "./database.ts";

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] migrations apply once; a second run changes nothing`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open({ migrated: false });
      try {
        const files = await readMigrations();
        assert.deepEqual(await migrate(db), files.map((m) => m.name));
        const snapshot = () =>
          db.query(
            `select table_name, column_name, data_type from information_schema.columns
             where table_schema = current_schema() order by 1, 2`,
          );
        const before = await snapshot();
        const recorded = await db.query("select name, checksum, applied_at from schema_migrations");
        assert.deepEqual(await migrate(db), []);
        assert.deepEqual(await snapshot(), before);
        assert.deepEqual(
          await db.query("select name, checksum, applied_at from schema_migrations"),
          recorded,
        );
        const edited = files.map((m, i) => i === 0 ? { ...m, sql: m.sql + "\n-- edited" } : m);
        await assert.rejects(migrate(db, edited), MigrationChecksumError);
      } finally {
        await db.close();
      }
    },
  });

  Deno.test({
    name: `[${target.name}] a durability listener hears each write's newest durable event`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      const errors: unknown[] = [];
      const log = new EventLog(db, { flushIntervalMs: 60_000, onError: (e) => errors.push(e) });
      try {
        const session = await new SessionStore(db).create({ region: "test", model: "m" });
        await log.open(session.id);
        const heard: number[] = [];
        log.onDurable(session.id, (seq) => heard.push(seq));
        const wallTime = new Date("2026-11-22T10:00:00Z");
        const append = () => log.append(session.id, { kind: "user_text", wallTime, payload: {} });
        append();
        append();
        append();
        assert.equal(heard.length, 0, "nothing is durable before a write");
        await log.flush();
        assert.deepEqual(heard, [2]);
        append();
        append();
        await log.flush();
        assert.deepEqual(heard, [2, 4]);
        // A listener that throws is reported; the write it heard of still counts.
        log.onDurable(session.id, () => {
          throw new Error("listener failed");
        });
        append();
        await log.flush();
        assert.equal(errors.length, 1);
        assert.equal((await log.read(session.id)).length, 6);
        // Released with nothing queued: the listener is dropped with the session.
        log.onDurable(session.id, (seq) => heard.push(seq));
        log.release(session.id);
        await log.open(session.id);
        append();
        await log.flush();
        assert.deepEqual(heard, [2, 4], "a released session's listener is gone");
      } finally {
        await log.close();
        await db.close();
      }
    },
  });

  Deno.test({
    name: `[${target.name}] events are appended in order, batched, and survive a reopen`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      const log = new EventLog(db, { flushIntervalMs: 60_000 });
      try {
        const sessions = new SessionStore(db);
        const session = await sessions.create({ region: "test", model: "m" });
        assert.equal((await sessions.get(session.id))?.status, "active");
        await log.open(session.id);
        const wallTime = new Date("2026-11-22T10:00:00Z");
        for (let i = 0; i < 1200; i++) {
          assert.equal(
            log.append(session.id, { kind: "micro_turn", microTurn: i, wallTime, payload: { i } }),
            i,
          );
        }
        assert.equal((await log.read(session.id)).length, 0, "nothing written before a flush");
        await log.flush();
        const events = await log.read(session.id);
        assert.deepEqual(events.map((e) => e.seq), [...Array(1200).keys()]);
        assert.deepEqual(events[7].payload, { i: 7 });
        assert.equal(events[7].microTurn, 7);
        log.release(session.id);
        await log.open(session.id);
        // Rows travel as one JSON document: quotes, backslashes and braces come back as sent.
        const text = 'she said "hi" \\ {a,b} NULL ünï 🎤 \\u0000';
        const lastTime = new Date(Date.now() + 86_400_123); // later than the row's creation
        log.append(session.id, {
          kind: "user_text",
          microTurn: 1199,
          mediaTimeMs: 239_800,
          wallTime: lastTime,
          payload: { text },
        });
        assert.equal(
          log.append(session.id, { kind: "session_closed", wallTime: lastTime, payload: {} }),
          1201,
        );
        await log.flush();
        const [typed, closed] = (await log.read(session.id)).slice(1200);
        assert.deepEqual(
          { ...typed, wallTime: new Date(typed.wallTime).toISOString() },
          {
            seq: 1200,
            kind: "user_text",
            microTurn: 1199,
            mediaTimeMs: 239_800,
            wallTime: lastTime.toISOString(),
            payload: { text },
          },
        );
        assert.equal(closed.microTurn, null);
        // jsonb refuses NUL and unpaired surrogates: they are replaced, not a poisoned batch.
        log.append(session.id, {
          kind: "user_text",
          wallTime,
          payload: { text: "a\0b\ud800c" },
        });
        await log.flush();
        assert.equal((await log.read(session.id)).at(-1)?.payload.text, "a\ufffdb\ufffdc");
        assert.equal(closed.mediaTimeMs, null);
        const [{ lastActive }] = await db.query<{ lastActive: string | Date }>(
          `select last_active_at as "lastActive" from sessions where id = $1`,
          [session.id],
        );
        assert.equal(
          new Date(lastActive).getTime(),
          lastTime.getTime(),
          "the session was active until its newest event",
        );
        await sessions.close(session.id);
        await log.close();
        assert.equal((await log.read(session.id)).length, 1203);
        assert.equal((await sessions.get(session.id))?.status, "closed");
        assert.equal(await sessions.get(crypto.randomUUID()), undefined);
      } finally {
        await log.close();
        await db.close();
      }
    },
  });

  Deno.test({
    name: `[${target.name}] events appended while a write is in flight wait for the next flush`,
    ignore: target.ignore,
    async fn() {
      const db = await target.open();
      let writes = 0;
      const started = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      // The write stays in flight until `release`.
      const held: Database = {
        engine: db.engine,
        query: async <Row>(sql: string, params?: unknown[]) => {
          if (!sql.includes("append_session_events")) return await db.query<Row>(sql, params);
          writes++;
          const result = await db.query<Row>(sql, params);
          started.resolve();
          await release.promise;
          return result;
        },
        exec: (sql) => db.exec(sql),
        close: () => db.close(),
        transaction: (work) => db.transaction(work),
      };
      const log = new EventLog(held, { flushIntervalMs: 60_000 });
      try {
        const session = await new SessionStore(db).create({ region: "test", model: "m" });
        await log.open(session.id);
        const event = { kind: "micro_turn", wallTime: new Date(), payload: {} };
        for (let i = 0; i < 3; i++) log.append(session.id, event);
        const first = log.flush();
        await started.promise;
        for (let i = 0; i < 2; i++) log.append(session.id, event);
        release.resolve();
        await first;
        // One write for what was queued; the two newer events wait for their own flush (a
        // busy edge otherwise wrote small batches back to back without end).
        assert.equal(writes, 1);
        assert.equal((await log.read(session.id)).length, 3);
        assert.equal(log.pendingCount, 2);
        await log.flush();
        assert.equal(writes, 2);
        assert.deepEqual((await log.read(session.id)).map((e) => e.seq), [0, 1, 2, 3, 4]);
      } finally {
        await log.close();
        await db.close();
      }
    },
  });
}
