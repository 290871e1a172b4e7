/**
 * Retention: how long sessions and their events are kept. Sessions inactive for longer than
 * `maxAgeDays` (and not live on any edge) are deleted with everything stored about them.
 * Sessions with more than `maxEventsPerSession` events lose their oldest events, but only
 * events a compaction already covers: what the model's context is rebuilt from stays.
 * Zero (the default) means no limit. Deleting one session on request is `SessionStore.delete`.
 *
 * @module
 */
import type { Queryable } from "./database.ts";

/** A retention policy; 0 means unlimited. */
export interface RetentionPolicy {
  /** Delete sessions inactive for longer than this many days. */
  maxAgeDays: number;
  /** Keep at most this many events per session (only compacted ones are removed). */
  maxEventsPerSession: number;
}

/** What one retention pass removed. */
export interface RetentionResult {
  /** Sessions deleted. */
  sessions: number;
  /** Events deleted from sessions that were kept. */
  events: number;
}

/** Applies `policy` at `nowMs`. */
export async function applyRetention(
  db: Queryable,
  policy: RetentionPolicy,
  nowMs: number,
): Promise<RetentionResult> {
  const result: RetentionResult = { sessions: 0, events: 0 };
  const now = new Date(nowMs).toISOString();
  if (policy.maxAgeDays > 0) {
    const cutoff = new Date(nowMs - policy.maxAgeDays * 86_400_000).toISOString();
    const deleted = await db.query(
      `delete from sessions
       where last_active_at < $1::timestamptz
         and (edge_id is null or lease_expires_at < $2::timestamptz)
       returning id`,
      [cutoff, now],
    );
    result.sessions = deleted.length;
  }
  if (policy.maxEventsPerSession > 0) {
    const deleted = await db.query(
      `with bounds as (
         select e.session_id, max(e.seq) - $1 as keep_from,
           (select max(c.covers_to_seq) from session_compactions c
             where c.session_id = e.session_id) as compacted_to
         from session_events e group by e.session_id having count(*) > $1
       )
       delete from session_events e using bounds b
       where e.session_id = b.session_id and e.seq < b.keep_from and e.seq <= b.compacted_to
       returning e.seq`,
      [policy.maxEventsPerSession],
    );
    result.events = deleted.length;
  }
  return result;
}
