/**
 * A session's side of its background tasks: it delegates requests (the client's, or the
 * model's when its control head says so, at most once per cooldown) with the conversation so
 * far, relays each task's progress to the client, and weaves outcomes into the session's input
 * as `[background <status>] <text>` when the user pauses (at once when urgent). Each outcome is
 * claimed in the store before it is woven in, so it reaches the model exactly once, whatever
 * restarts; an outcome that arrives after the session ended stays undelivered for the next
 * connection.
 *
 * @module
 */
import type { BackgroundTasks, TaskOutcome, TaskTarget } from "../background/background_tasks.ts";
import type { TaskStore } from "../background/task_store.ts";
import type { ToolHost } from "../background/chat_runner.ts";
import type { ServerMessage } from "../protocol/client_messages.ts";
import type { ErrorCode } from "../protocol/error_codes.ts";
import type { SessionEvent } from "../store/event_log.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

/** How a session delegates to the background model. */
export interface Delegation {
  /** The edge's task runner. */
  tasks: BackgroundTasks;
  /** Where tasks are stored (delivery is claimed there, exactly once). */
  store: TaskStore;
  /** The conversation so far, for a task's context package. */
  conversation: () => Promise<string>;
  /** Least time between two delegations the model's control head asks for, ms (0: never). */
  cooldownMs: number;
}

/** What the background side needs from its session. */
export interface SessionPort {
  /** The session. */
  sessionId: string;
  /** Sends a message to the client. */
  send(message: ServerMessage): void;
  /** Reports a non-fatal error to the client. */
  report(code: ErrorCode, message: string): void;
  /** Puts text into the session's input (it joins the next micro-turn). */
  input(text: string): void;
  /** Records an event in the session's log. */
  log(event: Omit<SessionEvent, "wallTime">): void;
  /** Whether the session is ending (outcomes then wait for the next connection). */
  ending(): boolean;
  /** Wall clock. */
  clock: Clock;
  /** Logger. */
  logger: Logger;
  /** Tools the session's client offers the background model (a Realtime client's functions). */
  tools?: ToolHost;
}

/** A session's background tasks; see the module doc. */
export class SessionBackground {
  readonly #delegation: Delegation | undefined;
  readonly #port: SessionPort;
  #held: TaskOutcome[] = [];
  #userSpeaking = false;
  #lastUserText = "";
  #lastModelDelegation = -Infinity;

  /**
   * @param delegation the edge's background setup, if any
   * @param port the session's side
   */
  constructor(delegation: Delegation | undefined, port: SessionPort) {
    this.#delegation = delegation;
    this.#port = port;
  }

  /** Runs interrupted tasks again and delivers finished, undelivered ones (session start). */
  resume(): Promise<void> {
    return this.#delegation?.tasks.resume(this.#target()) ?? Promise.resolve();
  }

  /** The user typed `text` (a model-triggered delegation refers to it). */
  userTyped(text: string): void {
    this.#lastUserText = text;
  }

  /** A micro-turn closed: whether the user spoke in it decides whether outcomes are held. */
  microTurnClosed(userSpeaking: boolean): void {
    this.#userSpeaking = userSpeaking;
    this.#release();
  }

  /** Hands `request` to the background model with the conversation so far. */
  delegate(request: string, options: { urgent: boolean; tool?: string }, microTurn: number): void {
    const delegation = this.#delegation;
    if (!delegation) {
      return this.#port.report("task_refused", "no background model is configured");
    }
    (async () => {
      const conversation = await delegation.conversation();
      const now = this.#userSpeaking ? "speaking" : "listening (silent)";
      const id = await delegation.tasks.delegate(
        this.#target(),
        request,
        { conversation, now, tool: options.tool },
        options.urgent,
      );
      this.#port.send({ type: "task", id, status: "running", request });
      this.#port.log({
        kind: "background_task",
        microTurn,
        payload: { taskId: id, request, ...options },
      });
    })().catch((error) =>
      this.#port.report("task_refused", error instanceof Error ? error.message : String(error))
    );
  }

  /** The control head said delegate: do so, at most once per cooldown, one task at a time. */
  modelAsked(microTurn: number): void {
    const delegation = this.#delegation;
    const now = this.#port.clock.now();
    if (!delegation?.cooldownMs) return;
    if (now - this.#lastModelDelegation < delegation.cooldownMs) return;
    if (delegation.tasks.runningFor(this.#port.sessionId) > 0) return;
    this.#lastModelDelegation = now;
    const about = this.#lastUserText ? `: "${this.#lastUserText}"` : "";
    this.delegate(`Follow up on what the user just said${about}`, { urgent: false }, microTurn);
  }

  /** Cancels a running task; reports when there is none. */
  cancel(id: string): void {
    if (!this.#delegation?.tasks.cancel(id)) {
      this.#port.report("task_refused", `task ${id} is not running`);
    }
  }

  #target(): TaskTarget {
    return {
      sessionId: this.#port.sessionId,
      tools: this.#port.tools,
      onUpdate: (id, update) => this.#port.send({ type: "task", id, status: "running", update }),
      onOutcome: (outcome) => {
        if (this.#port.ending()) return;
        this.#port.send({
          type: "task",
          id: outcome.id,
          status: outcome.status,
          text: outcome.text,
        });
        this.#held.push(outcome);
        this.#release();
      },
    };
  }

  /** Weaves held outcomes in when the user pauses (urgent ones at once), each exactly once. */
  #release(): void {
    const delegation = this.#delegation;
    if (!delegation || this.#port.ending()) return;
    const ready = this.#held.filter((o) => o.urgent || !this.#userSpeaking);
    this.#held = this.#held.filter((o) => !ready.includes(o));
    for (const outcome of ready) {
      delegation.store.markDelivered(outcome.id).then((claimed) => {
        if (!claimed || this.#port.ending()) return;
        this.#port.input(`[background ${outcome.status}] ${outcome.text}`);
        this.#port.log({
          kind: "background_result",
          payload: { taskId: outcome.id, status: outcome.status, text: outcome.text },
        });
      }).catch((error) =>
        this.#port.logger.warn("background result not delivered", { error: String(error) })
      );
    }
  }
}
