/**
 * Session leases: which edge runs a session. An edge claims a session before it serves it and
 * renews the lease while the session is live; a claim succeeds when the session is unleased,
 * already this edge's, or its lease has lapsed. The claim is one conditional update, so of two
 * edges racing for a session exactly one wins. Times come from the caller's clock.
 *
 * @module
 */
import type { Queryable } from "./database.ts";

/** Claims, renews and releases session leases for one edge. */
export class SessionLeases {
  /**
   * @param db the database
   * @param edgeId this edge's stable identity (a restarted edge keeps it and its leases)
   * @param ttlMs how long a lease lasts without renewal
   */
  constructor(
    private readonly db: Queryable,
    readonly edgeId: string,
    readonly ttlMs: number,
  ) {}

  /** Claims `sessionId` for this edge at `nowMs`; false when another edge holds it. */
  async claim(sessionId: string, nowMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `update sessions set edge_id = $2, lease_expires_at = $4::timestamptz
       where id = $1 and status = 'active'
         and (edge_id is null or edge_id = $2 or lease_expires_at < $3::timestamptz)
       returning id`,
      [
        sessionId,
        this.edgeId,
        new Date(nowMs).toISOString(),
        new Date(nowMs + this.ttlMs).toISOString(),
      ],
    );
    return rows.length === 1;
  }

  /** Extends this edge's leases on `sessionIds`. */
  async renew(sessionIds: string[], nowMs: number): Promise<void> {
    if (sessionIds.length === 0) return;
    // Rows locked in id order, as the event log's flush locks them: the two never deadlock.
    await this.db.query(
      `update sessions set lease_expires_at = $3::timestamptz
       where id in (
         select id from sessions
         where edge_id = $1 and id = any(string_to_array($2, ',')::uuid[])
         order by id for update
       )`,
      [this.edgeId, sessionIds.join(","), new Date(nowMs + this.ttlMs).toISOString()],
    );
  }

  /** Gives up this edge's lease on `sessionId` (another edge may claim it at once). */
  async release(sessionId: string): Promise<void> {
    await this.db.query(
      "update sessions set edge_id = null, lease_expires_at = null where id = $1 and edge_id = $2",
      [sessionId, this.edgeId],
    );
  }
}
