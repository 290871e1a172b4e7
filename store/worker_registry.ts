/**
 * The worker registry: the pool's live workers, where every edge can see them. A worker
 * announces itself (where its link listens, which model and contract it serves, how full it is,
 * whether it is draining) and renews the announcement with every heartbeat; an announcement
 * lives for the registry's time to live, so a worker that stops heartbeating (killed, cut off)
 * drops out without anyone removing it. Times come from the caller's clock.
 *
 * @module
 */
import type { Queryable } from "./database.ts";

/** What a worker says about itself with every heartbeat. */
export interface WorkerAnnouncement {
  /** Stable identity (a restarted worker keeps its row). */
  id: string;
  /** Region the worker serves. */
  region: string;
  /** Where edges open its link, e.g. `ws://10.0.0.7:8001/v1/link`. */
  linkUrl: string;
  /** The model it runs. */
  model: string;
  /** The model contract it speaks (`interaction-v4`). */
  contract: string;
  /** Session slots it has. */
  capacity: number;
  /** Session slots free now. */
  freeSlots: number;
  /** Its recent model steps' 99th percentile, milliseconds. */
  stepP99Ms: number;
  /** True while it drains: it takes no new sessions. */
  draining: boolean;
}

/** A live worker as the registry holds it. */
export interface RegisteredWorker extends WorkerAnnouncement {
  /** When it last heartbeat. */
  heartbeatAt: Date;
}

interface WorkerRow {
  id: string;
  region: string;
  link_url: string;
  model: string;
  contract: string;
  capacity: number;
  free_slots: number;
  step_p99_ms: number;
  draining: boolean;
  heartbeat_at: Date | string;
}

/** Heartbeats an announcement lives for: two can be lost before a worker drops out. */
const HEARTBEATS_PER_TTL = 3;

/** Announcements and reads of the pool's workers. */
export class WorkerRegistry {
  /**
   * @param db the database the edges share
   * @param ttlMs how long an announcement lives without a heartbeat
   */
  constructor(private readonly db: Queryable, readonly ttlMs: number) {}

  /** A registry whose workers heartbeat every `heartbeatSeconds`. */
  static withHeartbeat(db: Queryable, heartbeatSeconds: number): WorkerRegistry {
    return new WorkerRegistry(db, heartbeatSeconds * 1000 * HEARTBEATS_PER_TTL);
  }

  /** How often a worker announces itself, ms. */
  get heartbeatMs(): number {
    return this.ttlMs / HEARTBEATS_PER_TTL;
  }

  /** Records (or renews) `worker`'s announcement at `nowMs`. */
  async announce(worker: WorkerAnnouncement, nowMs: number): Promise<void> {
    await this.db.query(
      `insert into workers (id, region, link_url, model, contract, capacity, free_slots,
         step_p99_ms, draining, heartbeat_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, $11::timestamptz)
       on conflict (id) do update set region = excluded.region, link_url = excluded.link_url,
         model = excluded.model, contract = excluded.contract, capacity = excluded.capacity,
         free_slots = excluded.free_slots, step_p99_ms = excluded.step_p99_ms,
         draining = excluded.draining, heartbeat_at = excluded.heartbeat_at,
         expires_at = excluded.expires_at`,
      [
        worker.id,
        worker.region,
        worker.linkUrl,
        worker.model,
        worker.contract,
        worker.capacity,
        worker.freeSlots,
        worker.stepP99Ms,
        worker.draining,
        new Date(nowMs).toISOString(),
        new Date(nowMs + this.ttlMs).toISOString(),
      ],
    );
  }

  /**
   * Takes one of a worker's free slots for a session about to be placed there; false when it
   * has none left (another edge took the last). The worker's next heartbeat states its real
   * count again, which by then includes the session.
   */
  async reserve(id: string): Promise<boolean> {
    const rows = await this.db.query<{ free_slots: number }>(
      "update workers set free_slots = free_slots - 1 where id = $1 and free_slots > 0 returning free_slots",
      [id],
    );
    return rows.length === 1;
  }

  /** Removes a worker's announcement (it is stopping). */
  async withdraw(id: string): Promise<void> {
    await this.db.query("delete from workers where id = $1", [id]);
  }

  /** The workers whose announcement is live at `nowMs`, in id order. */
  async live(nowMs: number): Promise<RegisteredWorker[]> {
    const rows = await this.db.query<WorkerRow>(
      `select id, region, link_url, model, contract, capacity, free_slots, step_p99_ms,
         draining, heartbeat_at
       from workers where expires_at > $1::timestamptz order by id`,
      [new Date(nowMs).toISOString()],
    );
    return rows.map((row) => ({
      id: row.id,
      region: row.region,
      linkUrl: row.link_url,
      model: row.model,
      contract: row.contract,
      capacity: Number(row.capacity),
      freeSlots: Number(row.free_slots),
      stepP99Ms: Number(row.step_p99_ms),
      draining: row.draining,
      heartbeatAt: new Date(row.heartbeat_at),
    }));
  }
}
