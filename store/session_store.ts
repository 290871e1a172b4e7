/**
 * Session rows: create, look up, close.
 *
 * @module
 */
import type { Queryable } from "./database.ts";

/** A session as stored. */
export interface SessionRecord {
  /** Session id (UUID). */
  id: string;
  /** Who owns it, when the caller said. */
  owner: string | null;
  /** Region of the edge that created it. */
  region: string;
  /** Model name it runs with. */
  model: string;
  /** `active` until closed. */
  status: "active" | "closed";
  /** Creation time. */
  createdAt: Date;
  /** Last time an event was written. */
  lastActiveAt: Date;
}

const COLUMNS = `id, owner, region, model, status, created_at as "createdAt",
  last_active_at as "lastActiveAt"`;

/** Reads and writes the sessions table. */
export class SessionStore {
  /** @param db where sessions live */
  constructor(private readonly db: Queryable) {}

  /** Creates an active session. */
  async create(fields: { owner?: string; region: string; model: string }): Promise<SessionRecord> {
    const [row] = await this.db.query<SessionRecord>(
      `insert into sessions (id, owner, region, model) values ($1, $2, $3, $4) returning ${COLUMNS}`,
      [crypto.randomUUID(), fields.owner ?? null, fields.region, fields.model],
    );
    return row;
  }

  /** Finds a session by id; undefined when there is none. */
  async get(id: string): Promise<SessionRecord | undefined> {
    const [row] = await this.db.query<SessionRecord>(
      `select ${COLUMNS} from sessions where id = $1`,
      [id],
    );
    return row;
  }

  /** Marks a session closed. */
  /** Where a session would continue: its next micro-turn and who holds its lease. */
  async continuation(id: string): Promise<{
    nextMicroTurn: number;
    leasedBy: string | null;
    leaseExpiresAt: Date | null;
  }> {
    const [row] = await this.db.query<{
      nextMicroTurn: number;
      leasedBy: string | null;
      leaseExpiresAt: Date | null;
    }>(
      `select coalesce((select max(micro_turn) + 1 from session_events
          where session_id = $1 and kind = 'micro_turn'), 0)::int
          as "nextMicroTurn",
        edge_id as "leasedBy", lease_expires_at as "leaseExpiresAt"
       from sessions where id = $1`,
      [id],
    );
    return row ?? { nextMicroTurn: 0, leasedBy: null, leaseExpiresAt: null };
  }

  /** Deletes a session and everything stored about it (events, compactions). */
  async delete(id: string): Promise<void> {
    await this.db.query("delete from sessions where id = $1", [id]);
  }

  async close(id: string): Promise<void> {
    await this.db.query(
      "update sessions set status = 'closed', closed_at = now() where id = $1",
      [id],
    );
  }
}
