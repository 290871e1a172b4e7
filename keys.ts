/**
 * Operator API keys: `deno task keys create --owner=acme --name=backend [--scopes=...]`,
 * `deno task keys list`, `deno task keys revoke --id=<id>`. Uses the database the edges use
 * (`DATABASE_URL`, else PGlite at `PGLITE_DIR`, default `.data/pglite`, which only one
 * process may open at a time). A created key is printed once; only its hash is kept.
 *
 * @module
 */
import { openDatabase } from "./store/database.ts";
import { migrate } from "./store/migrations.ts";
import { API_KEY_SCOPES, type ApiKeyScope, ApiKeyStore } from "./store/api_keys.ts";

const USAGE = `usage:
  deno task keys create --owner=OWNER --name=NAME [--scopes=${API_KEY_SCOPES.join(",")}]
  deno task keys list
  deno task keys revoke --id=ID`;

function option(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Runs one command; returns the exit status. */
export async function runKeysCommand(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!["create", "list", "revoke"].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  const db = await openDatabase({
    url: Deno.env.get("DATABASE_URL") || undefined,
    pgliteDataDir: Deno.env.get("PGLITE_DIR") || ".data/pglite",
  });
  try {
    await migrate(db);
    const keys = new ApiKeyStore(db);
    if (command === "list") {
      for (const key of await keys.list()) {
        console.log(
          `${key.id}  ${key.owner}  ${key.name}  ${key.scopes.join(",")}  ` +
            `created ${key.createdAt.toISOString()}` +
            (key.revokedAt ? `  REVOKED ${key.revokedAt.toISOString()}` : ""),
        );
      }
      return 0;
    }
    if (command === "revoke") {
      const id = option(rest, "id");
      if (!id) {
        console.error(USAGE);
        return 2;
      }
      if (!await keys.revoke(id)) {
        console.error(`no live key ${id}`);
        return 1;
      }
      console.log(`revoked ${id}`);
      return 0;
    }
    const owner = option(rest, "owner");
    const name = option(rest, "name");
    const scopes = (option(rest, "scopes") ?? "sessions:create,sessions:delete").split(",");
    const unknown = scopes.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
    if (!owner || !name || unknown.length) {
      if (unknown.length) console.error(`unknown scopes: ${unknown.join(", ")}`);
      console.error(USAGE);
      return 2;
    }
    const { key, record } = await keys.create({
      owner,
      name,
      scopes: scopes as ApiKeyScope[],
    });
    console.log(`created ${record.id} for ${owner}; the key (shown once):\n${key}`);
    return 0;
  } finally {
    await db.close();
  }
}

if (import.meta.main) Deno.exit(await runKeysCommand(Deno.args));
