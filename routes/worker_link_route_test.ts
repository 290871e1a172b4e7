import assert from "node:assert/strict";
import { startWorker } from "../gpu-worker/worker_server.ts";
import { ConfigSchema } from "../config.ts";
import { createLogger } from "../lib/logger.ts";
import { decodeLinkFrame, encodeLinkFrame, type WorkerLinkFrame } from "../protocol/worker_link.ts";

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
