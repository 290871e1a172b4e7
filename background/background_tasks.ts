/**
 * Delegation: a session hands a request to the background model with a rich context package
 * (the conversation so far: compaction summary, pinned facts and recent lines; the request;
 * what the user is doing now). Several tasks run at once per session, each cancellable and
 * bounded by a timeout. Every task, each update it streams and its outcome are stored
 * (background/task_store.ts); the session is told of updates as they come and of the outcome
 * once, and a session reopened after a crash gets interrupted tasks run again and finished but
 * undelivered outcomes delivered.
 *
 * @module
 */
import type { BackgroundRunner, ChatMessage, RunnerUpdate, ToolHost } from "./chat_runner.ts";
import type { BackgroundTask, TaskStatus, TaskStore } from "./task_store.ts";
import type { Logger } from "../lib/logger.ts";

/** Raised when a session already runs as many tasks as it may. */
export class TooManyTasksError extends Error {
  /** @param limit tasks a session may run at once */
  constructor(limit: number) {
    super(`a session runs at most ${limit} background tasks at once`);
    this.name = "TooManyTasksError";
  }
}

/** What a delegated task knows. */
export interface TaskContext {
  /** The conversation so far: summary, pinned facts, recent lines. */
  conversation: string;
  /** What the user is doing now (speaking, typing, silent, showing the camera...). */
  now: string;
  /** A tool the background model must call first (`server__tool`), when the request names one. */
  tool?: string;
}

/** A task's outcome, as the session receives it. */
export interface TaskOutcome {
  /** Task id. */
  id: string;
  /** How it ended. */
  status: TaskStatus;
  /** The result, or a sentence saying why there is none. */
  text: string;
  /** Deliver even while the user speaks. */
  urgent: boolean;
}

/** The session side of a task. */
export interface TaskTarget {
  /** The session. */
  sessionId: string;
  /** A task streamed something. */
  onUpdate(taskId: string, update: RunnerUpdate): void;
  /** A task ended; called once per outcome not yet delivered. */
  onOutcome(outcome: TaskOutcome): void;
  /** Tools the session itself offers, next to the edge's (a Realtime client's functions). */
  tools?: ToolHost;
}

/** Options of {@linkcode BackgroundTasks}. */
export interface BackgroundTasksOptions {
  /** Where tasks are stored. */
  store: TaskStore;
  /** Who runs them. */
  runner: BackgroundRunner;
  /** Longest a task may run, ms. Default 60 s. */
  timeoutMs?: number;
  /** Tasks one session may run at once. Default 3. */
  maxPerSession?: number;
  /** Logger. */
  log: Logger;
}

interface Running {
  sessionId: string;
  controller: AbortController;
  done: Promise<void>;
}

/** Runs background tasks for every session of an edge; see the module doc. */
export class BackgroundTasks {
  readonly #o: Required<Omit<BackgroundTasksOptions, "log">> & { log: Logger };
  readonly #running = new Map<string, Running>();

  /** @param options store, runner and bounds */
  constructor(options: BackgroundTasksOptions) {
    this.#o = { timeoutMs: 60_000, maxPerSession: 3, ...options };
  }

  /** Tasks running now for `sessionId`. */
  runningFor(sessionId: string): number {
    return [...this.#running.values()].filter((r) => r.sessionId === sessionId).length;
  }

  /** Delegates `request`; returns the new task's id. Throws {@linkcode TooManyTasksError}. */
  async delegate(
    target: TaskTarget,
    request: string,
    context: TaskContext,
    urgent = false,
  ): Promise<string> {
    if (this.runningFor(target.sessionId) >= this.#o.maxPerSession) {
      throw new TooManyTasksError(this.#o.maxPerSession);
    }
    const task = await this.#o.store.create(target.sessionId, request, { ...context }, urgent);
    this.#start(target, task, context);
    return task.id;
  }

  /** Cancels a running task; false when it is not running here. */
  cancel(taskId: string): boolean {
    const running = this.#running.get(taskId);
    running?.controller.abort(new CancelledError());
    return running !== undefined;
  }

  /**
   * A session came back (after a reconnect or a crash): tasks left running by a dead process
   * run again, and finished outcomes not yet delivered are delivered.
   */
  async resume(target: TaskTarget): Promise<void> {
    const { store } = this.#o;
    for (const task of await store.interrupted(target.sessionId)) {
      if (this.#running.has(task.id)) continue;
      this.#start(target, task, (await store.context(task.id)) as unknown as TaskContext);
    }
    for (const task of await store.undelivered(target.sessionId)) {
      target.onOutcome(outcomeOf(task));
    }
  }

  /** Cancels every task of a session (it ended). */
  cancelSession(sessionId: string): void {
    for (const [id, running] of this.#running) {
      if (running.sessionId === sessionId) this.cancel(id);
    }
  }

  /** Waits for every running task to settle after aborting them (shutdown). */
  async close(): Promise<void> {
    const running = [...this.#running.values()];
    for (const r of running) r.controller.abort(new ShutdownError());
    await Promise.all(running.map((r) => r.done));
  }

  #start(target: TaskTarget, task: BackgroundTask, context: TaskContext): void {
    const { store, runner, timeoutMs, log } = this.#o;
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
    let seq = 0;
    let writes = Promise.resolve();
    const onUpdate = (update: RunnerUpdate) => {
      const at = seq++;
      writes = writes.then(() => store.update(task.id, at, update.kind, update)).catch((error) =>
        log.warn("task update not stored", { taskId: task.id, error: String(error) })
      );
      target.onUpdate(task.id, update);
    };
    const messages: ChatMessage[] = [
      {
        role: "system",
        content: "You are the background model of a live conversation. Work on the request; " +
          "your answer is woven back into the conversation.\n" +
          `Conversation so far:\n${context.conversation || "(none yet)"}\n` +
          `What the user is doing now: ${context.now}`,
      },
      { role: "user", content: task.request },
    ];
    const done = (async () => {
      let status: TaskStatus;
      let text: string;
      try {
        await store.start(task.id);
        seq = await store.nextUpdateSeq(task.id);
        text = await runner.run(messages, {
          signal,
          onUpdate,
          toolChoice: context.tool,
          tools: target.tools,
        });
        status = "succeeded";
      } catch (error) {
        const reason = signal.reason;
        if (reason instanceof ShutdownError) {
          // The task stays running in the store: the session's next edge runs it again.
          return;
        }
        status = reason instanceof CancelledError
          ? "cancelled"
          : signal.aborted
          ? "timed_out"
          : "failed";
        text = status === "cancelled"
          ? "The task was cancelled."
          : status === "timed_out"
          ? `The task did not finish within ${Math.round(timeoutMs / 1000)} s.`
          : `The task failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      await writes;
      await store.finish(
        task.id,
        status,
        status === "succeeded" ? { result: text } : { error: text },
      );
      target.onOutcome({ id: task.id, status, text, urgent: task.urgent });
    })().catch((error) => log.error("background task crashed", { taskId: task.id, error }))
      .finally(() => this.#running.delete(task.id));
    this.#running.set(task.id, { sessionId: task.sessionId, controller, done });
  }
}

/** The abort reason of a cancelled task. */
class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** The abort reason of tasks stopped by a shutdown (they run again elsewhere). */
class ShutdownError extends Error {
  constructor() {
    super("shutting down");
    this.name = "ShutdownError";
  }
}

function outcomeOf(task: BackgroundTask): TaskOutcome {
  return {
    id: task.id,
    status: task.status,
    text: task.result ?? task.error ?? "",
    urgent: task.urgent,
  };
}
