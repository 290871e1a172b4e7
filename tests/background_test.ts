import { speechFixture } from "./support/speech_fixture.ts";
import assert from "node:assert/strict";
import { startWorker } from "../gpu-worker/worker_server.ts";
import { startTestSystem } from "./support/test_system.ts";
import { ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { ChatCompletionsRunner, type RunnerUpdate } from "../background/chat_runner.ts";
import { type McpServerConfig, McpToolHost } from "../background/mcp_tools.ts";
import {
  BackgroundTasks,
  type TaskOutcome,
  type TaskTarget,
} from "../background/background_tasks.ts";
import { TaskStore } from "../background/task_store.ts";
import { SessionStore } from "../store/session_store.ts";
import { EventLog } from "../store/event_log.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { ManualClock } from "../lib/clock.ts";

/** A real MCP server from npm, over stdio. */
const EVERYTHING: McpServerConfig = {
  name: "everything",
  command: Deno.execPath(),
  args: ["run", "-A", "npm:@modelcontextprotocol/server-everything@2026.8.31", "stdio"],
};
const log = createLogger("test", "warn");
const speech = speechFixture();
// MCP's stdio client and the worker keep handles the sanitizers would flag.
const lenient = { sanitizeOps: false, sanitizeResources: false };

/** A session target that records what reaches it. */
function recordingTarget(sessionId: string) {
  const updates: RunnerUpdate[] = [];
  const outcomes: TaskOutcome[] = [];
  let notify = () => {};
  const target: TaskTarget = {
    sessionId,
    onUpdate: (_id, update) => void updates.push(update),
    onOutcome: (outcome) => {
      outcomes.push(outcome);
      notify();
    },
  };
  const outcome = () =>
    new Promise<TaskOutcome>((resolve) => {
      if (outcomes.length) return resolve(outcomes.at(-1)!);
      notify = () => resolve(outcomes.at(-1)!);
    });
  return { target, updates, outcomes, outcome };
}

Deno.test({
  name:
    "the chat-completions runner against the worker's own endpoint: streamed tokens and a tool call round trip through an MCP server",
  ...lenient,
  async fn() {
    const config = ConfigSchema.parse({ host: "127.0.0.1", logLevel: "warn" });
    const worker = await startWorker(config, 0, log);
    const tools = await McpToolHost.connect([EVERYTHING]);
    try {
      const runner = new ChatCompletionsRunner({
        baseUrl: `${worker.url}/v1`,
        model: "reference-background-lm",
        tools,
        maxTokens: 24,
      });
      const updates: RunnerUpdate[] = [];
      const answer = await runner.run([{ role: "user", content: "remember the milk" }], {
        signal: AbortSignal.timeout(30_000),
        onUpdate: (update) => void updates.push(update),
        toolChoice: "everything__echo",
      });
      assert.deepEqual(updates[0], {
        kind: "tool_call",
        name: "everything__echo",
        arguments: JSON.stringify({ message: "remember the milk" }),
      });
      assert.deepEqual(updates[1], {
        kind: "tool_result",
        name: "everything__echo",
        text: "Echo: remember the milk",
      });
      const tokens = updates.filter((u) => u.kind === "token");
      assert.equal(tokens.length, 24, "the answer streamed token by token");
      assert.equal(answer, tokens.map((t) => t.kind === "token" ? t.text : "").join(""));
      // A server error is an error, not an empty answer.
      const broken = new ChatCompletionsRunner({ baseUrl: `${worker.url}/v2`, model: "x" });
      await assert.rejects(
        broken.run([{ role: "user", content: "hi" }], {
          signal: AbortSignal.timeout(5000),
          onUpdate: () => {},
        }),
        /chat completions failed \(404\)/,
      );
    } finally {
      await tools.close();
      await worker.close();
    }
  },
});

Deno.test({
  name:
    "a delegated task calls an MCP tool; its result reaches the client and, once, the session's input",
  ...lenient,
  async fn() {
    const db = await TEST_DATABASE_TARGETS[0].open();
    const system = await startTestSystem(db, {
      clock: new ManualClock(Date.now()),
      config: { mcpServers: JSON.stringify([EVERYTHING]) },
    });
    try {
      const { sessionId, client } = await ProtocolClient.open(system.url);
      client.send(JSON.stringify({
        type: "delegate",
        request: "remember the milk",
        tool: "everything__echo",
      }));
      const done = await client.message("task", (t) => t.status === "succeeded");
      const seen = client.messages.filter((m) => m.type === "task" && m.id === done.id);
      assert.ok(seen.some((m) => m.type === "task" && m.request === "remember the milk"));
      assert.ok(seen.some((m) =>
        m.type === "task" && m.update?.kind === "tool_result" &&
        m.update.text === "Echo: remember the milk"
      ));
      // The user is silent: the result joins the next micro-turn's input.
      speechPackets(new Int16Array(20 * 320)).forEach((p) => client.send(p));
      client.send(JSON.stringify({ type: "bye" }));
      await client.message("closed");
      await system.close();
      const events = await new EventLog(db).read(sessionId);
      const delivered = events.filter((e) => e.kind === "background_result");
      assert.equal(delivered.length, 1);
      assert.equal(delivered[0].payload.taskId, done.id);
      const turns = events.filter((e) => e.kind === "micro_turn");
      const inputs = turns.map((e) => (e.payload.input as { text: string }).text);
      assert.equal(inputs.filter((t) => t.startsWith("[background succeeded]")).length, 1);
      assert.ok((await new TaskStore(db).get(done.id))?.deliveredAt);
    } finally {
      await system.close();
      await db.close();
    }
  },
});

Deno.test({
  name:
    "cancellation, a timeout on a hanging tool and a failing runner each end with a clear outcome while the session runs on",
  ...lenient,
  async fn() {
    const db = await TEST_DATABASE_TARGETS[0].open();
    const system = await startTestSystem(db, {
      clock: new ManualClock(Date.now()),
      config: { mcpServers: JSON.stringify([EVERYTHING]), backgroundTimeoutSeconds: 2 },
    });
    try {
      const { client } = await ProtocolClient.open(system.url);
      const hang = (request: string) =>
        client.send(JSON.stringify({
          type: "delegate",
          request,
          tool: "everything__trigger-long-running-operation",
        }));
      // One hangs until its timeout, one is cancelled while its tool runs.
      hang("wait for ever");
      hang("wait, then never mind");
      const started = await client.message("task", (t) => t.request === "wait, then never mind");
      await client.message("task", (t) => t.id === started.id && t.update?.kind === "tool_call");
      client.send(JSON.stringify({ type: "cancel_task", id: started.id }));
      // Meanwhile the session keeps time: micro-turns go through and come back.
      speechPackets(speech.subarray(0, 30 * 320)).forEach((p) => client.send(p));
      await client.message("output", (o) => o.index === 2);
      const cancelled = await client.message("task", (t) => t.id === started.id && !!t.text);
      assert.equal(cancelled.status, "cancelled");
      const timedOut = await client.message("task", (t) => t.status === "timed_out");
      assert.match(timedOut.text!, /did not finish within 2 s/);
      // Cancelling what is not running is refused, clearly and harmlessly.
      client.send(JSON.stringify({ type: "cancel_task", id: crypto.randomUUID() }));
      assert.equal((await client.message("error")).code, "task_refused");
      client.send(JSON.stringify({ type: "bye" }));
      await client.message("closed");
    } finally {
      await system.close();
      await db.close();
    }

    // A runner whose server is gone: the task fails with the reason.
    const db2 = await TEST_DATABASE_TARGETS[0].open();
    const store = new TaskStore(db2);
    const { id } = await new SessionStore(db2).create({ region: "r", model: "m" });
    const tasks = new BackgroundTasks({
      store,
      runner: new ChatCompletionsRunner({ baseUrl: "http://127.0.0.1:9/v1", model: "x" }),
      log,
    });
    const { target, outcome } = recordingTarget(id);
    await tasks.delegate(target, "anything", { conversation: "", now: "silent" });
    const failed = await outcome();
    assert.equal(failed.status, "failed");
    assert.match(failed.text, /The task failed/);
    await db2.close();
  },
});

Deno.test({
  name:
    "a task interrupted by a restart runs again on resume and its result is delivered exactly once",
  ...lenient,
  async fn() {
    const db = await TEST_DATABASE_TARGETS[0].open();
    const config = ConfigSchema.parse({ host: "127.0.0.1", logLevel: "warn" });
    const worker = await startWorker(config, 0, log);
    const tools = await McpToolHost.connect([EVERYTHING]);
    try {
      const store = new TaskStore(db);
      const { id: sessionId } = await new SessionStore(db).create({ region: "r", model: "m" });
      const runner = new ChatCompletionsRunner({
        baseUrl: `${worker.url}/v1`,
        model: "reference-background-lm",
        tools,
        maxTokens: 8,
      });
      // The first edge starts a task whose tool takes long, then goes down mid-task.
      const first = new BackgroundTasks({ store, runner, log });
      const before = recordingTarget(sessionId);
      const taskId = await first.delegate(before.target, "slow one", {
        conversation: "",
        now: "silent",
        tool: "everything__trigger-long-running-operation",
      });
      while (!before.updates.some((u) => u.kind === "tool_call")) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await first.close();
      assert.equal(before.outcomes.length, 0);
      assert.equal((await store.get(taskId))?.status, "running");

      // The session comes back on another edge whose tools answer at once: the task runs
      // again there and its outcome is delivered; a later resume delivers nothing twice.
      const second = new BackgroundTasks({
        store,
        runner: new ChatCompletionsRunner({
          baseUrl: `${worker.url}/v1`,
          model: "m",
          maxTokens: 4,
        }),
        log,
      });
      const after = recordingTarget(sessionId);
      await second.resume(after.target);
      const outcome = await after.outcome();
      assert.equal(outcome.id, taskId);
      assert.equal(outcome.status, "succeeded");
      assert.equal(await store.markDelivered(taskId), true, "the session claims it once");
      assert.equal(await store.markDelivered(taskId), false, "a second claim fails");
      const again = recordingTarget(sessionId);
      await second.resume(again.target);
      assert.equal(again.outcomes.length, 0);
      await second.close();
    } finally {
      await tools.close();
      await worker.close();
      await db.close();
    }
  },
});
