/**
 * Durable background tasks: every task, its streamed updates and its outcome live in the
 * database, so a result survives a restart and is delivered to its session exactly once
 * (`markDelivered` is a conditional update: only the first caller wins).
 *
 * @module
 */
import type { Queryable } from "../store/database.ts";

/** Where a task is. */
export type TaskStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "timed_out";

/** A stored task. */
export interface BackgroundTask {
  /** Task id. */
  id: string;
  /** The session that delegated it. */
  sessionId: string;
  /** Where it is. */
  status: TaskStatus;
  /** What was asked. */
  request: string;
  /** Deliver even while the user speaks. */
  urgent: boolean;
  /** The final text, when it succeeded. */
  result: string | null;
  /** Why it did not, when it did not. */
  error: string | null;
  /** When the result was woven into the session (null: not yet). */
  deliveredAt: Date | null;
}

const COLUMNS = `id, session_id as "sessionId", status, request, urgent, result, error,
  delivered_at as "deliveredAt"`;

/** Reads and writes background tasks. */
export class TaskStore {
  /** @param db the database */
  constructor(private readonly db: Queryable) {}

  /** Records a new task. */
  async create(
    sessionId: string,
    request: string,
    context: Record<string, unknown>,
    urgent = false,
  ): Promise<BackgroundTask> {
    const [row] = await this.db.query<BackgroundTask>(
      `insert into background_tasks (id, session_id, status, request, context, urgent)
       values ($1, $2, 'queued', $3, ($4::text)::jsonb, $5) returning ${COLUMNS}`,
      [crypto.randomUUID(), sessionId, request, JSON.stringify(context), urgent],
    );
    return row;
  }

  /** Moves a task to `status`, with its result or error. */
  async finish(
    id: string,
    status: TaskStatus,
    outcome: { result?: string; error?: string } = {},
  ): Promise<void> {
    await this.db.query(
      `update background_tasks set status = $2, result = $3, error = $4, updated_at = now()
       where id = $1 and status in ('queued', 'running')`,
      [id, status, outcome.result ?? null, outcome.error ?? null],
    );
  }

  /** Marks a task running. */
  async start(id: string): Promise<void> {
    await this.db.query(
      "update background_tasks set status = 'running', updated_at = now() where id = $1",
      [id],
    );
  }

  /** The sequence number a task's next update gets (a re-run continues after the first run's). */
  async nextUpdateSeq(id: string): Promise<number> {
    const [row] = await this.db.query<{ next: number }>(
      "select coalesce(max(seq) + 1, 0)::int as next from background_task_updates where task_id = $1",
      [id],
    );
    return row.next;
  }

  /** Appends one streamed update. */
  async update(id: string, seq: number, kind: string, payload: unknown): Promise<void> {
    await this.db.query(
      `insert into background_task_updates (task_id, seq, kind, payload)
       values ($1, $2, $3, ($4::text)::jsonb)`,
      [id, seq, kind, JSON.stringify(payload)],
    );
  }

  /** Claims the delivery of a task's outcome: true for exactly one caller. */
  async markDelivered(id: string): Promise<boolean> {
    const rows = await this.db.query(
      `update background_tasks set delivered_at = now()
       where id = $1 and delivered_at is null returning id`,
      [id],
    );
    return rows.length === 1;
  }

  /** Finished tasks of a session whose outcome was not delivered yet, oldest first. */
  async undelivered(sessionId: string): Promise<BackgroundTask[]> {
    return await this.db.query<BackgroundTask>(
      `select ${COLUMNS} from background_tasks
       where session_id = $1 and delivered_at is null
         and status in ('succeeded', 'failed', 'cancelled', 'timed_out')
       order by created_at`,
      [sessionId],
    );
  }

  /** Tasks of a session left running by a process that died: they are run again. */
  async interrupted(sessionId: string): Promise<BackgroundTask[]> {
    return await this.db.query<BackgroundTask>(
      `select ${COLUMNS} from background_tasks
       where session_id = $1 and status in ('queued', 'running') order by created_at`,
      [sessionId],
    );
  }

  /** One task. */
  async get(id: string): Promise<BackgroundTask | undefined> {
    const [row] = await this.db.query<BackgroundTask>(
      `select ${COLUMNS} from background_tasks where id = $1`,
      [id],
    );
    return row;
  }

  /** The task's stored context. */
  async context(id: string): Promise<Record<string, unknown>> {
    const [row] = await this.db.query<{ context: Record<string, unknown> }>(
      "select context from background_tasks where id = $1",
      [id],
    );
    return row?.context ?? {};
  }
}
