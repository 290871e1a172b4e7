/**
 * The append-only session event log, written in batches off the real-time path: `append`
 * only queues and returns the event's sequence number; a flush writes every queued event in
 * one statement at most `flushIntervalMs` later (the durability bound: an event is
 * durable within 200 ms by default, and at once after `flush()` or `close()`). A failed write
 * keeps its events queued and is retried; nothing is dropped.
 *
 * @module
 */
import type { Database } from "./database.ts";
import { type EventBatch, EventQueue } from "./event_queue.ts";

/** One event as the log stores it. */
export interface SessionEvent {
  /** What happened: `session_opened`, `user_text`, `micro_turn`, `session_closed`, ... */
  kind: string;
  /** Micro-turn the event belongs to, when it belongs to one. */
  microTurn?: number;
  /** Media time in ms, when the event has one. */
  mediaTimeMs?: number;
  /** When it happened on the wall clock. */
  wallTime: Date;
  /** Kind-specific JSON. */
  payload: Record<string, unknown>;
}

/** A stored event with its position in the session's history. */
export interface StoredSessionEvent extends SessionEvent {
  /** Position in the session's log, from 0, without gaps. */
  seq: number;
}

/** Options for {@linkcode EventLog}. */
export interface EventLogOptions {
  /** Longest an appended event waits before its write starts. Default 200 ms. */
  flushIntervalMs?: number;
  /**
   * Called when a write fails (the events stay queued for the next flush) or a durability
   * listener throws.
   */
  onError?: (error: unknown) => void;
}

/** Whether a database error is a unique-key violation (SQLSTATE 23505). */
function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error &&
    (error as { code: unknown }).code === "23505";
}

/** Rows per write: a backlog after an outage is written in statements of bounded size. */
const MAX_ROWS_PER_INSERT = 1000;

/**
 * A whole batch in one statement, one round trip (migrations/0006_append_session_events.sql):
 * its rows as one JSON document, each row its JSON text from the moment it was queued
 * (store/event_queue.ts), and each session once with its newest event's time.
 */
const APPEND_EVENTS = "select append_session_events($1::text, $2::uuid[], $3::timestamptz[])";

/** Batched, ordered writer and reader of session events. */
export class EventLog {
  #db: Database;
  #nextSeq = new Map<string, number>();
  #queue = new EventQueue();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #flushIntervalMs: number;
  #onError: (error: unknown) => void;
  /** Highest durable seq per session, and who waits for which. */
  #durable = new Map<string, number>();
  #waiters = new Map<string, { seq: number; resolve: () => void }[]>();
  /** Each session's durability listener (one a session; see `onDurable`). */
  #listeners = new Map<string, (seq: number) => void>();

  /**
   * @param db where events are stored
   * @param options batching and error routing
   */
  constructor(db: Database, options: EventLogOptions = {}) {
    this.#db = db;
    this.#flushIntervalMs = options.flushIntervalMs ?? 200;
    this.#onError = options.onError ?? ((error) => console.error("event log write failed", error));
  }

  /** Events queued and not yet written. */
  get pendingCount(): number {
    return this.#queue.length;
  }

  /**
   * Prepares to append to a session: continues its sequence after what is stored. Returns the
   * micro-turn index the session continues at (one past the last `micro_turn` event).
   */
  async open(sessionId: string): Promise<{ nextMicroTurn: number }> {
    const [row] = await this.#db.query<{ next: number; nextTurn: number }>(
      `select coalesce(max(seq) + 1, 0)::int as next,
        coalesce(max(micro_turn) filter (where kind = 'micro_turn') + 1, 0)::int as "nextTurn"
       from session_events where session_id = $1`,
      [sessionId],
    );
    const queued = this.#queue.queuedOf(sessionId);
    this.#nextSeq.set(sessionId, row.next + queued.count);
    return { nextMicroTurn: Math.max(row.nextTurn, queued.lastMicroTurn + 1) };
  }

  /** Resolves once the session's event `seq` (and every earlier one) is durable. */
  whenDurable(sessionId: string, seq: number): Promise<void> {
    if ((this.#durable.get(sessionId) ?? -1) >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.#waiters.get(sessionId) ?? [];
      waiting.push({ seq, resolve });
      this.#waiters.set(sessionId, waiting);
    });
  }

  /**
   * Tells `listener` the session's highest durable seq after every write that made more of its
   * events durable, until the session is released and its last events written (or forgotten).
   * A session has one listener; setting another replaces it. Unlike `whenDurable`, waiting for
   * every event this way allocates nothing per event: an edge's sessions acknowledge each
   * micro-turn's input through it, and a promise for each outlived V8's young generation.
   */
  onDurable(sessionId: string, listener: (seq: number) => void): void {
    this.#listeners.set(sessionId, listener);
  }

  /** Queues an event and returns its sequence number. The session must be open. */
  append(sessionId: string, event: SessionEvent): number {
    const seq = this.#nextSeq.get(sessionId);
    if (seq === undefined) throw new RangeError(`event log not open for session ${sessionId}`);
    this.#nextSeq.set(sessionId, seq + 1);
    this.#queue.push(sessionId, seq, event);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => {});
    }, this.#flushIntervalMs);
    return seq;
  }

  /** Stops appending for a session (its queued events are still written). */
  release(sessionId: string): void {
    this.#nextSeq.delete(sessionId);
    if (!this.#queue.has(sessionId)) this.#forgetDurability(sessionId);
  }

  /** Drops a deleted session: its queued events are discarded and it can no longer append. */
  forget(sessionId: string): void {
    this.#nextSeq.delete(sessionId);
    this.#waiters.delete(sessionId);
    this.#forgetDurability(sessionId);
    this.#queue.remove(sessionId);
  }

  /** Writes everything queued now; resolves once it is durable. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  /** Reads a session's events in order. */
  async read(sessionId: string): Promise<StoredSessionEvent[]> {
    return await this.#db.query<StoredSessionEvent>(
      `select seq, kind, micro_turn as "microTurn", media_time_ms as "mediaTimeMs",
        wall_time as "wallTime", payload
       from session_events where session_id = $1 order by seq`,
      [sessionId],
    );
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    // What was queued when the write began, no more: events appended while a write is in
    // flight wait for their own timer. Draining them too wrote small batches back to back
    // without end on a busy edge (90 a second at 100 sessions instead of five).
    let due = this.#queue.length;
    while (due > 0) {
      const batch = this.#queue.take(Math.min(due, MAX_ROWS_PER_INSERT));
      if (!batch) break;
      due -= batch.size;
      try {
        await this.#db.query(APPEND_EVENTS, [batch.document, batch.sessions, batch.lastActive]);
      } catch (error) {
        if (isUniqueViolation(error)) {
          // Another writer already stored these positions (this edge lost the session to
          // another one): retrying can never succeed, so the batch is dropped, loudly.
          this.#queue.settle();
          this.#onError(error);
          continue;
        }
        this.#queue.restore();
        this.#onError(error);
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.flush().catch(() => {});
        }, this.#flushIntervalMs);
        return;
      }
      this.#queue.settle();
      this.#markDurable(batch);
    }
  }

  /** Records what a written batch made durable and wakes whoever waited for it. */
  #markDurable({ sessions, highestSeq }: EventBatch): void {
    sessions.forEach((sessionId, i) => {
      this.#durable.set(sessionId, Math.max(this.#durable.get(sessionId) ?? -1, highestSeq[i]));
    });
    for (const sessionId of sessions) {
      try {
        this.#listeners.get(sessionId)?.(this.#durable.get(sessionId)!);
      } catch (error) {
        this.#onError(error);
      }
      const waiting = this.#waiters.get(sessionId);
      if (waiting) {
        const durable = this.#durable.get(sessionId)!;
        const ready = waiting.filter((w) => w.seq <= durable);
        const rest = waiting.filter((w) => w.seq > durable);
        if (rest.length) this.#waiters.set(sessionId, rest);
        else this.#waiters.delete(sessionId);
        for (const waiter of ready) waiter.resolve();
      }
      // A released session's last events are written: forget it, as release does when
      // nothing is queued (else every ended session left an entry behind).
      if (
        !this.#nextSeq.has(sessionId) && !this.#waiters.has(sessionId) &&
        !this.#queue.has(sessionId)
      ) this.#forgetDurability(sessionId);
    }
  }

  /** Drops what is known of a session's durability, and its listener. */
  #forgetDurability(sessionId: string): void {
    this.#durable.delete(sessionId);
    this.#listeners.delete(sessionId);
  }
}
