/**
 * One small interface over the two Postgres engines the project runs on: PGlite, embedded
 * (the default, so `task start` needs no server), and a real server through postgres.js
 * (selected by `DATABASE_URL`). Store modules speak only this interface, in plain SQL with
 * `$n` parameters, so the same code and the same tests run on both.
 *
 * @module
 */
import type { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";

/** Anything that runs parameterized SQL: the database or an open transaction. */
export interface Queryable {
  /** Runs one statement with `$1..$n` parameters and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** A database connection (or pool) the process holds. */
export interface Database extends Queryable {
  /** Which engine this is, for logs and health output. */
  readonly engine: "pglite" | "postgres";
  /** Runs `work` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes the connection after in-flight queries finish. */
  close(): Promise<void>;
}

/** Where and how to connect. */
export interface DatabaseOptions {
  /** `postgres://` URL of a real server; absent selects PGlite. */
  url?: string;
  /** PGlite data directory, or `memory://` for a throwaway database. */
  pgliteDataDir?: string;
  /** Schema to use as the search path (tests isolate themselves this way). */
  schema?: string;
}

/** Opens the database the options select. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.schema);
  return await openPglite(options.pgliteDataDir ?? "memory://", options.schema);
}

async function openPglite(dataDir: string, schema?: string): Promise<Database> {
  if (!dataDir.includes("://")) await Deno.mkdir(dataDir, { recursive: true });
  // Loaded only here: a process on a real server never holds the embedded engine's code.
  const { PGlite } = await import("@electric-sql/pglite");
  // The embedded database serves one developer's machine or a test: 16 MB of shared buffers
  // instead of Postgres' 128 MB saves ~100 MB resident (bench:memory).
  const db = await PGlite.create(dataDir, {
    startParams: [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"],
  });
  if (schema) {
    await db.exec(`create schema if not exists "${schema}"; set search_path to "${schema}"`);
  }
  const wrap = (target: Pick<PGlite, "query" | "exec">): Queryable => ({
    query: async <Row>(sql: string, params: unknown[] = []) =>
      (await target.query<Row>(sql, params)).rows,
    exec: async (sql: string) => {
      await target.exec(sql);
    },
  });
  return {
    engine: "pglite",
    ...wrap(db),
    transaction: (work) => db.transaction((tx) => work(wrap(tx))),
    close: () => db.close(),
  };
}

function openPostgres(url: string, schema?: string): Database {
  const sql = postgres(url, {
    max: 10,
    onnotice: () => {},
    connection: schema ? { search_path: schema } : {},
    // int8 as a JavaScript number, as PGlite returns it: sequence numbers and micro-turn
    // indices stay far below 2^53.
    types: {
      int8: {
        to: 20,
        from: [20],
        serialize: (n: number) => String(n),
        parse: (s: string) => Number(s),
      },
    },
  });
  const wrap = (target: postgres.Sql | postgres.TransactionSql): Queryable => ({
    query: async <Row>(text: string, params: unknown[] = []) =>
      // deno-lint-ignore no-explicit-any
      [...await target.unsafe(text, params as any[])] as Row[],
    exec: async (text: string) => {
      await target.unsafe(text).simple();
    },
  });
  return {
    engine: "postgres",
    ...wrap(sql),
    transaction: async <T>(work: (tx: Queryable) => Promise<T>) =>
      (await sql.begin((tx) => work(wrap(tx)))) as T,
    close: () => sql.end({ timeout: 5 }),
  };
}
