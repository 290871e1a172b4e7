/**
 * The migration runner: applies the plain SQL files in migrations/ in file-name order, each
 * once, recorded in `schema_migrations` with a checksum. Running it again changes nothing; an
 * applied file that was edited afterwards is refused rather than silently skipped.
 *
 * @module
 */
import type { Database } from "./database.ts";
import { sha256Hex } from "../lib/hex.ts";

/** Raised when an applied migration's file no longer matches what was applied. */
export class MigrationChecksumError extends Error {
  /** @param file the migration whose content changed */
  constructor(file: string) {
    super(`migration ${file} was changed after it was applied; add a new migration instead`);
    this.name = "MigrationChecksumError";
  }
}

/** A migration file. */
export interface Migration {
  /** File name, e.g. `0001_sessions_and_events.sql`; its order is the name's order. */
  name: string;
  /** The SQL script. */
  sql: string;
}

/** Reads the migrations folder (default: the project's migrations/). */
export async function readMigrations(
  folder: URL = new URL("../migrations/", import.meta.url),
): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name.endsWith(".sql")) {
      migrations.push({
        name: entry.name,
        sql: await Deno.readTextFile(new URL(entry.name, folder)),
      });
    }
  }
  return migrations.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Applies the pending migrations in one transaction under an advisory lock, so processes
 * starting together against one server do not race. Returns the names it applied.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const files = migrations ?? await readMigrations();
  return await db.transaction(async (tx) => {
    // An arbitrary constant that names this runner's lock.
    await tx.query("select pg_advisory_xact_lock(7264091)");
    await tx.exec(`create table if not exists schema_migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = new Map(
      (await tx.query<{ name: string; checksum: string }>(
        "select name, checksum from schema_migrations",
      ))
        .map((row) => [row.name, row.checksum]),
    );
    const done: string[] = [];
    for (const migration of files) {
      const checksum = await sha256Hex(migration.sql);
      const previous = applied.get(migration.name);
      if (previous === checksum) continue;
      if (previous !== undefined) throw new MigrationChecksumError(migration.name);
      await tx.exec(migration.sql);
      await tx.query("insert into schema_migrations (name, checksum) values ($1, $2)", [
        migration.name,
        checksum,
      ]);
      done.push(migration.name);
    }
    return done;
  });
}
