/**
 * Operator API keys (migrations/0005_api_keys.sql): created with a random 256-bit secret shown
 * once, stored as its SHA-256, scoped, revocable. `deno task keys` manages them.
 *
 * @module
 */
import type { Queryable } from "./database.ts";
import { constantTimeEqual } from "../lib/constant_time.ts";
import { hex, sha256Hex } from "../lib/hex.ts";

/** What a key may do. */
export const API_KEY_SCOPES = ["sessions:create", "sessions:delete"] as const;

/** One of {@linkcode API_KEY_SCOPES}. */
export type ApiKeyScope = typeof API_KEY_SCOPES[number];

/** A stored key (never its secret). */
export interface ApiKeyRecord {
  /** The key's public id (`isk_<id>_...`). */
  id: string;
  /** A name for people. */
  name: string;
  /** The owner its sessions belong to. */
  owner: string;
  /** What it may do. */
  scopes: ApiKeyScope[];
  /** When it was made. */
  createdAt: Date;
  /** When it was revoked, if it was. */
  revokedAt: Date | null;
}

const PREFIX = "isk_";

interface Row {
  id: string;
  secretSha256: string;
  name: string;
  owner: string;
  scopes: string;
  createdAt: Date;
  revokedAt: Date | null;
}

const COLUMNS = `id, secret_sha256 as "secretSha256", name, owner, scopes,
  created_at as "createdAt", revoked_at as "revokedAt"`;

const record = ({ secretSha256: _secret, scopes, ...row }: Row): ApiKeyRecord => ({
  ...row,
  scopes: scopes.split(",").filter(Boolean) as ApiKeyScope[],
});

/** Creates, lists, revokes and verifies API keys. */
export class ApiKeyStore {
  /** @param db where keys live */
  constructor(private readonly db: Queryable) {}

  /** Creates a key; the returned `key` is the only time its secret exists outside its holder. */
  async create(
    fields: { name: string; owner: string; scopes: readonly ApiKeyScope[] },
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    const id = hex(crypto.getRandomValues(new Uint8Array(8)));
    const secret = hex(crypto.getRandomValues(new Uint8Array(32)));
    const [row] = await this.db.query<Row>(
      `insert into api_keys (id, secret_sha256, name, owner, scopes)
       values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
      [id, await sha256Hex(secret), fields.name, fields.owner, fields.scopes.join(",")],
    );
    return { key: `${PREFIX}${id}_${secret}`, record: record(row) };
  }

  /** Every key, newest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.db.query<Row>(
      `select ${COLUMNS} from api_keys order by created_at desc`,
    );
    return rows.map(record);
  }

  /** Revokes a key by id; false when there is no such live key. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.db.query<{ id: string }>(
      "update api_keys set revoked_at = now() where id = $1 and revoked_at is null returning id",
      [id],
    );
    return rows.length > 0;
  }

  /** The live key `key` is, or undefined (unknown, wrong secret, revoked, not a key). */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const match = /^isk_([0-9a-f]{16})_([0-9a-f]{64})$/.exec(key);
    if (!match) return undefined;
    const [row] = await this.db.query<Row>(`select ${COLUMNS} from api_keys where id = $1`, [
      match[1],
    ]);
    if (!row || row.revokedAt || !constantTimeEqual(row.secretSha256, await sha256Hex(match[2]))) {
      return undefined;
    }
    return record(row);
  }
}

/** Whether `text` looks like an API key (so other credentials are not looked up as one). */
export function isApiKey(text: string): boolean {
  return text.startsWith(PREFIX);
}
