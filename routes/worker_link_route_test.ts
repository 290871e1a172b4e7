import assert from "node:assert/strict";
import { startWorker } from "../gpu-worker/worker_server.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { decodeLinkFrame, encodeLinkFrame, type WorkerLinkFrame } from "../protocol/worker_link.ts";
import { linkFramesIn } from "../protocol/link_batch.ts";
import { serveWorkerLink } from "./worker_link_route.ts";
import { HeldRuntime } from "../tests/support/held_runtime.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { WorkerLinkClient } from "../edge/worker_link_client.ts";

Deno.test("the worker link answers bad frames and unknown sessions with error frames and goes on", async () => {
  const worker = await startWorker(
    ConfigSchema.parse({ workerCapacity: 1 }),
    0,
    createLogger("test", "error"),
  );
  const socket = new WebSocket(worker.linkUrl);
  socket.binaryType = "arraybuffer";
  const received: WorkerLinkFrame[] = [];
  let wake = () => {};
  socket.onmessage = (event) => {
    received.push(decodeLinkFrame(new Uint8Array(event.data)));
    wake();
  };
  const next = async () => {
    while (received.length === 0) await new Promise<void>((resolve) => wake = resolve);
    return received.shift()!;
  };
  const errorCode = (frame: WorkerLinkFrame) =>
    frame.type === "error" ? frame.body.code : frame.type;
  try {
    await new Promise((resolve) => socket.onopen = resolve);
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    socket.send(new Uint8Array([9, 9, 9]));
    assert.equal(errorCode(await next()), "malformed_frame");
    const turn = {
      sessionId: a,
      index: 0,
      wallClockMs: Date.now(),
      flags: 0,
      dmelFrames: 20,
      dmel: new Uint8Array(1600),
      frameOrigins: new Uint8Array(10),
      lateMediaMs: [],
      text: "",
      patchCount: 0,
      patches: new Uint8Array(0),
    };
    socket.send(encodeLinkFrame({ type: "micro_turn", turn }));
    assert.equal(errorCode(await next()), "unknown_session");
    socket.send(
      encodeLinkFrame({ type: "open", sessionId: a, index: 0, body: { startedAtMs: Date.now() } }),
    );
    assert.equal((await next()).type, "opened");
    socket.send(encodeLinkFrame({ type: "open", sessionId: a, index: 0, body: {} }));
    assert.equal(errorCode(await next()), "session_already_open");
    socket.send(encodeLinkFrame({ type: "open", sessionId: b, index: 0, body: {} }));
    assert.equal(errorCode(await next()), "capacity_exhausted");
    socket.send(encodeLinkFrame({ type: "micro_turn", turn }));
    const output = await next();
    assert.ok(
      output.type === "output" && output.output.index === 0 && output.output.audio.length === 3200,
    );
    // Closing frees the only slot for the next session.
    socket.send(encodeLinkFrame({ type: "close", sessionId: a, index: 0, body: {} }));
    socket.send(encodeLinkFrame({ type: "open", sessionId: b, index: 0, body: {} }));
    assert.equal((await next()).type, "opened");
    // A session that asks for Opus gets its output encoded here: a payload per 20 ms frame.
    socket.send(encodeLinkFrame({ type: "close", sessionId: b, index: 0, body: {} }));
    socket.send(encodeLinkFrame({ type: "open", sessionId: a, index: 0, body: { audio: "opus" } }));
    const opened = await next();
    assert.ok(opened.type === "opened" && opened.body.audio === "opus");
    socket.send(encodeLinkFrame({ type: "micro_turn", turn }));
    const encoded = await next();
    assert.ok(encoded.type === "output", encoded.type);
    assert.equal(encoded.output.audio.length, 0);
    assert.equal(encoded.output.opus?.length, 10);
    // Its first frames come with it; audible frames after them follow in an audio rest.
    const owed = encoded.output.opus!.filter((payload) => payload === null).length;
    assert.ok(encoded.output.opus!.slice(0, 2).every((payload) => payload !== null));
    if (owed > 0) {
      const rest = await next();
      assert.ok(rest.type === "audio_rest" && rest.index === 0, rest.type);
      assert.equal(rest.payloads.length, owed);
    }
  } finally {
    socket.close();
    await worker.close();
  }
});

Deno.test("a step's outputs reach an edge that asked for batches as one message, others one by one", async () => {
  const runtime = new HeldRuntime();
  const worker = serveWorkerLink(runtime, "127.0.0.1", undefined, { encodeThreads: 0 });
  const connect = async (url: string) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    const link = { socket, messages: 0, frames: [] as WorkerLinkFrame[], wake: () => {} };
    socket.onmessage = (event) => {
      link.messages++;
      for (const bytes of linkFramesIn(new Uint8Array(event.data))) {
        link.frames.push(decodeLinkFrame(bytes));
      }
      link.wake();
    };
    await new Promise((resolve) => socket.onopen = resolve);
    return link;
  };
  type Link = Awaited<ReturnType<typeof connect>>;
  const frames = async (link: Link, count: number) => {
    while (link.frames.length < count) await new Promise<void>((wake) => link.wake = wake);
    return link.frames.splice(0);
  };
  const batched = await connect(`${worker.linkUrl}?batches=1`);
  const plain = await connect(worker.linkUrl);
  try {
    const random = seededRandom(1);
    for (const link of [batched, plain]) {
      const sessions = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      for (const sessionId of sessions) {
        link.socket.send(encodeLinkFrame({ type: "open", sessionId, index: 0, body: {} }));
      }
      assert.deepEqual((await frames(link, 3)).map((frame) => frame.type), Array(3).fill("opened"));
      sessions.forEach((sessionId, i) =>
        link.socket.send(
          encodeLinkFrame({ type: "micro_turn", turn: randomMicroTurn(sessionId, i, random) }),
        )
      );
    }
    await runtime.holding(6);
    batched.messages = plain.messages = 0;
    runtime.step();
    for (const link of [batched, plain]) {
      const outputs = await frames(link, 3);
      assert.deepEqual(
        outputs.map((frame) => frame.type === "output" && frame.output.text),
        ["answer 0", "answer 1", "answer 2"],
      );
    }
    assert.equal(batched.messages, 1);
    assert.equal(plain.messages, 3);
  } finally {
    batched.socket.close();
    plain.socket.close();
    await worker.close();
  }
});

Deno.test("the edge's link client takes batched outputs to each of their sessions", async () => {
  const runtime = new HeldRuntime();
  const worker = serveWorkerLink(runtime, "127.0.0.1", undefined, { encodeThreads: 0 });
  // A message the client cannot read ends the wait: it fails the test rather than hanging it.
  const errors: string[] = [];
  let allOut = () => {};
  const log = {
    ...createLogger("test", "error"),
    error: (message: string) => {
      errors.push(message);
      allOut();
    },
  };
  const link = new WorkerLinkClient(worker.linkUrl, log);
  try {
    const random = seededRandom(2);
    const answers = new Map<string, string[]>();
    const sessions = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    let outputs = 0;
    for (const sessionId of sessions) {
      answers.set(sessionId, []);
      await link.open(sessionId, { startedAtMs: 0, audio: "pcm" }, {
        onOutput: (output) => {
          answers.get(sessionId)!.push(`${output.sessionId} ${output.text}`);
          if (++outputs === 2 * sessions.length) allOut();
        },
        onAudioRest: () => {},
        onError: () => {},
        onEvent: () => {},
        onLinkLost: () => {},
      });
    }
    for (const index of [0, 1]) {
      for (const sessionId of sessions) link.send(randomMicroTurn(sessionId, index, random));
    }
    await runtime.holding(6);
    const delivered = new Promise<void>((resolve) => allOut = resolve);
    runtime.step();
    await delivered;
    assert.deepEqual(errors, []);
    for (const sessionId of sessions) {
      assert.deepEqual(answers.get(sessionId), [`${sessionId} answer 0`, `${sessionId} answer 1`]);
    }
  } finally {
    link.disconnect();
    await worker.close();
  }
});
