/**
 * The databases Postgres-backed tests run against: PGlite always, and the real server named
 * by `TEST_DATABASE_URL` when it is set (`.ci/run` sets it). Each test gets its own schema on
 * the real server, dropped afterwards, so tests run in parallel without seeing each other.
 *
 * @module
 */
import { type Database, openDatabase } from "../../store/database.ts";
import { migrate } from "../../store/migrations.ts";

/** A database a test can run against. */
export interface TestDatabaseTarget {
  /** `pglite` or `postgres`. */
  name: string;
  /** Set when this target cannot run here (no server configured). */
  ignore: boolean;
  /** Opens a fresh, migrated database; the returned `close` also removes it. */
  open(options?: { migrated?: boolean }): Promise<Database>;
}

const url = Deno.env.get("TEST_DATABASE_URL");

/** Both targets, the real server ignored when `TEST_DATABASE_URL` is unset. */
export const TEST_DATABASE_TARGETS: TestDatabaseTarget[] = [
  {
    name: "pglite",
    ignore: false,
    open: async ({ migrated = true } = {}) => {
      const db = await openDatabase({ pgliteDataDir: "memory://" });
      if (migrated) await migrate(db);
      return db;
    },
  },
  {
    name: "postgres",
    ignore: !url,
    open: async ({ migrated = true } = {}) => (await openPostgresSchema({ migrated })).db,
  },
];

/**
 * A fresh schema on the server named by `TEST_DATABASE_URL`: the database (its `close` drops the
 * schema) and a URL other processes can connect to it with (`search_path` set).
 */
export async function openPostgresSchema(
  { migrated = true } = {},
): Promise<{ db: Database; url: string }> {
  if (!url) throw new Error("TEST_DATABASE_URL is not set");
  const schema = `test_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = await openDatabase({ url });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const db = await openDatabase({ url, schema });
  if (migrated) await migrate(db);
  const schemaUrl = new URL(url);
  schemaUrl.searchParams.set("search_path", schema);
  return {
    db: {
      ...db,
      close: async () => {
        await db.exec(`drop schema ${schema} cascade`);
        await db.close();
      },
    },
    url: schemaUrl.href,
  };
}
