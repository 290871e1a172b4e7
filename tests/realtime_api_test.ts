import assert from "node:assert/strict";
import OpenAI from "openai";
import { OpenAIRealtimeWebSocket } from "openai/realtime/websocket";
import type { TestSystem } from "./support/test_system.ts";
import { mintRealtimeKey, speechAt, withRealtimeSystem } from "./support/realtime_system.ts";
import { encodeFormat } from "../edge/realtime/audio_formats.ts";
import { EventLog } from "../store/event_log.ts";

type Event = { type: string; [key: string]: unknown };

/** The official `openai` client's Realtime WebSocket, connected with a key this edge minted. */
async function connect(system: TestSystem, key?: string) {
  const secret = key
    ? { value: key, session: { id: key.slice(3, 39) } }
    : await mintRealtimeKey(system);
  const client = new OpenAI({ apiKey: secret.value, baseURL: `${system.url}/v1` });
  const realtime = new OpenAIRealtimeWebSocket({ model: "reference" }, client);
  const events: Event[] = [];
  const waiters: (() => void)[] = [];
  realtime.on("event", (event) => {
    events.push(event as unknown as Event);
    for (const wake of waiters.splice(0)) wake();
  });
  // Protocol errors arrive as events too; the client also raises them here.
  realtime.on("error", () => {});
  await new Promise((resolve) => realtime.socket.addEventListener("open", resolve));
  /** Resolves with the first event (from `from` on) that `match` accepts. */
  const next = async (match: (e: Event) => boolean, what: string, from = 0): Promise<Event> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = events.slice(from).find(match);
      if (found) return found;
      assert.ok(Date.now() < deadline, `no ${what} in: ${events.map((e) => e.type).join(", ")}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return { realtime, events, next, sessionId: secret.session.id as string, key: secret.value };
}

/** The speech fixture as base64 chunks of 100 ms in `format`'s encoding. */
function speechChunks(rateHz: number, format: "audio/pcm" | "audio/pcmu", seconds: number) {
  const samples = speechAt(rateHz, seconds);
  const bytes = encodeFormat(format, samples);
  const chunk = (rateHz / 10) * (format === "audio/pcm" ? 2 : 1);
  const chunks: string[] = [];
  for (let at = 0; at < bytes.length; at += chunk) {
    chunks.push(btoa(String.fromCharCode(...bytes.subarray(at, at + chunk))));
  }
  return chunks;
}

Deno.test("Realtime API through the official openai client: session, speech in, responses out in order, a text item, and bad input answered with error events while the session goes on", async () => {
  await withRealtimeSystem(async (system, db) => {
    const { realtime, events, next, sessionId } = await connect(system);
    const created = await next(() => true, "the first event");
    assert.equal(created.type, "session.created");
    assert.equal((created.session as { id: string }).id, sessionId);

    realtime.send({
      type: "session.update",
      session: {
        type: "realtime",
        instructions: "be brief",
        audio: { input: { format: { type: "audio/pcm", rate: 24000 } } },
      },
    });
    const updated = await next((e) => e.type === "session.updated", "session.updated");
    assert.equal((updated.session as { instructions: string }).instructions, "be brief");

    for (const audio of speechChunks(24_000, "audio/pcm", 4)) {
      realtime.send({ type: "input_audio_buffer.append", audio });
    }
    // The user's speech: detected, committed, an item.
    await next((e) => e.type === "input_audio_buffer.speech_started", "speech_started");
    const committed = await next((e) => e.type === "input_audio_buffer.committed", "committed");
    const userItem = await next(
      (e) =>
        e.type === "conversation.item.added" &&
        (e.item as { id: string }).id === committed.item_id,
      "the user's item",
    );
    assert.equal((userItem.item as { role: string }).role, "user");

    // A response, its events in the protocol's order, its audio 24 kHz pcm16.
    const done = await next((e) => e.type === "response.done", "response.done");
    const responseId = (done.response as { id: string }).id;
    const ofResponse = events.filter((e) =>
      e.response_id === responseId || (e.response as { id?: string })?.id === responseId
    ).map((e) => e.type);
    const order = [
      "response.created",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_audio.delta",
      "response.output_audio.done",
      "response.output_audio_transcript.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.done",
    ];
    const positions = order.map((type) => ofResponse.indexOf(type));
    assert.ok(
      positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1])),
      ofResponse.join(),
    );
    const deltas = events.filter((e) =>
      e.type === "response.output_audio.delta" && e.response_id === responseId
    );
    const audioBytes = deltas.reduce((n, e) => n + atob(e.delta as string).length, 0);
    assert.equal(audioBytes % 2, 0);
    assert.ok(audioBytes >= 9600, `${audioBytes} bytes: at least one micro-turn of 24 kHz pcm16`);
    assert.equal((done.response as { status: string }).status, "completed");

    // A typed item reaches the session (its event log) and the conversation.
    const mark = events.length;
    realtime.send({
      type: "conversation.item.create",
      item: {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "hello there" }],
      },
    });
    const textItem = await next(
      (e) => e.type === "conversation.item.done" && (e.item as { role: string }).role === "user",
      "the text item",
      mark,
    );
    assert.deepEqual((textItem.item as { content: unknown[] }).content, [
      { type: "input_text", text: "hello there" },
    ]);

    // Bad input: each an error event, nothing else lost.
    const bad = events.length;
    realtime.socket.send(JSON.stringify({ type: "no.such.event", event_id: "evt_1" }));
    realtime.send({ type: "input_audio_buffer.append", audio: "%%% not base64 %%%" });
    realtime.send({ type: "input_audio_buffer.append", audio: btoa("abc") }); // 1.5 samples
    realtime.socket.send("{not json");
    realtime.socket.send(
      JSON.stringify({ type: "conversation.item.delete", item_id: "item_nope" }),
    );
    realtime.socket.send(JSON.stringify({
      type: "input_audio_buffer.append",
      audio: "A".repeat(1 << 20), // over the 1 MiB a message may have
    }));
    realtime.socket.send(JSON.stringify({
      type: "session.update",
      session: { type: "realtime", audio: { input: { format: { type: "audio/opus" } } } },
    }));
    const errors = async (count: number) => {
      await next(
        () => events.slice(bad).filter((e) => e.type === "error").length >= count,
        "errors",
        bad,
      );
      return events.slice(bad).filter((e) => e.type === "error").map((
        e,
      ) => (e.error as { code: string; event_id: string | null }));
    };
    const codes = await errors(7);
    assert.deepEqual(codes.map((e) => e.code), [
      "unknown_event",
      "invalid_value",
      "invalid_value",
      "invalid_json",
      "item_not_found",
      "message_too_large",
      "invalid_value", // a format the protocol does not have
    ]);
    assert.equal(codes[0].event_id, "evt_1");
    // ... and the session goes on.
    const goesOn = events.length;
    realtime.send({
      type: "conversation.item.create",
      item: {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "still here" }],
      },
    });
    await next(
      (e) =>
        e.type === "conversation.item.done" &&
        (e.item as { content: { text?: string }[] }).content[0]?.text === "still here",
      "an item after the bad input",
      goesOn,
    );

    realtime.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await system.close();
    // The realtime session is an ordinary session: its micro-turns and text are in the log.
    const logged = await new EventLog(db).read(sessionId);
    assert.ok(logged.some((e) => e.kind === "user_text" && e.payload.text === "hello there"));
    assert.ok(logged.filter((e) => e.kind === "micro_turn").length >= 15); // 4 s of speech
  });
});

Deno.test("Realtime API: G.711 mu-law in and out; a key from another edge, a bad key or none is refused", async () => {
  await withRealtimeSystem(async (system) => {
    const { realtime, events, next } = await connect(system);
    realtime.send({
      type: "session.update",
      session: {
        type: "realtime",
        audio: {
          input: { format: { type: "audio/pcmu" } },
          output: { format: { type: "audio/pcmu" } },
        },
      },
    });
    await next((e) => e.type === "session.updated", "session.updated");
    for (const audio of speechChunks(8_000, "audio/pcmu", 4)) {
      realtime.send({ type: "input_audio_buffer.append", audio });
    }
    await next((e) => e.type === "input_audio_buffer.committed", "committed");
    const done = await next((e) => e.type === "response.done", "response.done");
    const responseId = (done.response as { id: string }).id;
    const bytes = events.filter((e) =>
      e.type === "response.output_audio.delta" && e.response_id === responseId
    )
      .reduce((n, e) => n + atob(e.delta as string).length, 0);
    // 8 kHz, one byte a sample: a micro-turn is 1600 bytes (the resampler holds back a few).
    assert.ok(bytes >= 1500 && bytes % 1 === 0, `${bytes} bytes`);
    realtime.close();

    for (const key of ["", "sk-openai-key", "ek_00000000-0000-4000-8000-000000000000.v1.x.y"]) {
      // As a browser sends its key: the `openai-insecure-api-key.<key>` subprotocol.
      const socket = new WebSocket(
        `${system.url.replace("https", "wss")}/v1/realtime?model=reference`,
        key ? ["realtime", `openai-insecure-api-key.${key}`] : [],
      );
      const message = await new Promise<string>((resolve, reject) => {
        socket.onmessage = (event) => resolve(String(event.data));
        socket.onerror = () => reject(new Error("socket failed"));
      });
      const closed = await new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
      const error = JSON.parse(message);
      assert.equal(error.type, "error", message);
      assert.match(error.error.code, /unauthorized|unknown_session/);
      assert.notEqual(closed.code, 1000);
    }
  });
});

Deno.test("Realtime API: a dropped connection resumes with the same key: the conversation's items replayed in order, how much input was received, and the session goes on", async () => {
  await withRealtimeSystem(async (system, db) => {
    const first = await connect(system);
    for (const audio of speechChunks(24_000, "audio/pcm", 3)) {
      first.realtime.send({ type: "input_audio_buffer.append", audio });
    }
    first.realtime.send({
      type: "conversation.item.create",
      item: {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "remember me" }],
      },
    });
    await first.next(
      (e) =>
        e.type === "conversation.item.done" && (e.item as { role: string }).role === "user" &&
        (e.item as { content: { type: string }[] }).content[0].type === "input_text",
      "the text item",
    );
    const itemsBefore = [
      ...new Map(
        first.events.filter((e) => e.type === "conversation.item.done")
          .map((e) => [(e.item as { id: string }).id, e]),
      ).keys(),
    ];
    first.realtime.socket.close(); // the network drops
    await new Promise((resolve) => setTimeout(resolve, 200));

    const again = await connect(system, first.key);
    const created = await again.next((e) => e.type === "session.created", "session.created");
    assert.equal((created.session as { id: string }).id, first.sessionId);
    const received =
      (created.resumed as { input_audio_received_ms: number }).input_audio_received_ms;
    assert.ok(received >= 2900 && received <= 3000, `${received} ms received`);
    await again.next(
      () =>
        again.events.filter((e) => e.type === "conversation.item.added").length >=
          itemsBefore.length,
      "the replayed items",
    );
    const replayed = again.events.filter((e) => e.type === "conversation.item.added")
      .map((e) => (e.item as { id: string }).id);
    assert.deepEqual(replayed.slice(0, itemsBefore.length), itemsBefore);
    // The session goes on: more speech, more events, the same session's log.
    for (const audio of speechChunks(24_000, "audio/pcm", 3)) {
      again.realtime.send({ type: "input_audio_buffer.append", audio });
    }
    await again.next(
      (e) => e.type === "input_audio_buffer.speech_started",
      "speech after resuming",
    );
    again.realtime.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await system.close();
    const logged = await new EventLog(db).read(first.sessionId);
    assert.ok(logged.some((e) => e.kind === "session_resumed"));
    assert.ok(logged.some((e) => e.kind === "user_text" && e.payload.text === "remember me"));
  });
});

Deno.test({
  name:
    "Realtime API: a client function as the background model's tool: the call reaches the client as a function_call response, its output goes back to the task",
  // The background model's worker endpoint keeps handles the sanitizers would flag.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withRealtimeSystem(async (system, db) => {
      const { realtime, next, sessionId } = await connect(system);
      const weather = {
        type: "function" as const,
        name: "get_weather",
        description: "The weather in a city",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      };
      realtime.send({ type: "session.update", session: { type: "realtime", tools: [weather] } });
      const updated = await next((e) => e.type === "session.updated", "session.updated");
      assert.deepEqual((updated.session as { tools: unknown[] }).tools, [weather]);

      realtime.send({
        type: "response.create",
        response: {
          instructions: "What is the weather in Paris?",
          tool_choice: { type: "function", name: "get_weather" },
        },
      });
      const call = await next(
        (e) => e.type === "response.function_call_arguments.done",
        "the function call",
      );
      assert.equal(call.name, "get_weather");
      assert.match(String(call.call_id), /^call_/);
      JSON.parse(call.arguments as string); // arguments are JSON
      const item = await next(
        (e) =>
          e.type === "conversation.item.done" &&
          (e.item as { type: string }).type === "function_call",
        "the function_call item",
      );
      assert.equal((item.item as { call_id: string }).call_id, call.call_id);

      realtime.send({
        type: "conversation.item.create",
        item: {
          type: "function_call_output",
          call_id: String(call.call_id),
          output: "sunny, 21 C",
        },
      });
      // The output went back to the background model as the tool's result, and the task ended.
      for (let waited = 0;; waited += 100) {
        const rows = await db.query<{ status: string; result: string | null }>(
          `select t.status, u.payload->>'text' as result from background_tasks t
             join background_task_updates u on u.task_id = t.id and u.kind = 'tool_result'
           where t.session_id = $1`,
          [sessionId],
        );
        if (rows.length && rows[0].status !== "running" && rows[0].status !== "queued") {
          assert.equal(rows[0].result, "sunny, 21 C");
          assert.equal(rows[0].status, "succeeded");
          break;
        }
        assert.ok(waited < 20_000, `task rows: ${JSON.stringify(rows)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      realtime.close();
    });
  },
});
