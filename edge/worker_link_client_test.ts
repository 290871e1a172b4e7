import assert from "node:assert/strict";
import { WorkerLinkClient } from "./worker_link_client.ts";
import { createLogger } from "../lib/logger.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import { decodeLinkFrame, encodeLinkFrame } from "../protocol/worker_link.ts";
import { linkFramesIn } from "../protocol/link_batch.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";
import { seededRandom } from "../lib/seeded_random.ts";

Deno.test("a session still opening when its worker's link drops is refused at once, not when the open times out", async () => {
  // A worker that takes the link, reads the session's `open` and goes away without answering.
  const opens: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      opens.push(decodeLinkFrame(new Uint8Array(event.data)).type);
      socket.close(1001, "worker stopping");
    };
    return response;
  });
  const link = new WorkerLinkClient(
    `ws://127.0.0.1:${server.addr.port}/v1/link`,
    createLogger("test", "error"),
  );
  let linkLost = 0;
  try {
    const error = await link.open(crypto.randomUUID(), { startedAtMs: 0, audio: "opus" }, {
      onOutput: () => {},
      onAudioRest: () => {},
      onError: () => {},
      onEvent: () => {},
      onLinkLost: () => linkLost++,
    }).then(() => undefined, (e) => e);
    assert.deepEqual(opens, ["open"]);
    assert.ok(error instanceof ProtocolError, String(error));
    assert.equal(error.code, "worker_unavailable");
    // The timeout's refusal says "did not open": this one comes from the dropped link.
    assert.match(error.message, /dropped before it opened/);
    assert.equal(linkLost, 1);
  } finally {
    link.disconnect();
    await server.shutdown();
  }
});

Deno.test("the link client sends a turn's frames as one batch to a worker that reads them, one a message to one that does not", async () => {
  // A worker that opens every session, saying whether it reads batches, and counts what comes.
  const received = { messages: 0, frames: [] as string[] };
  let readsBatches = true;
  let wake = () => {};
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      received.messages++;
      for (const bytes of linkFramesIn(new Uint8Array(event.data))) {
        const frame = decodeLinkFrame(bytes);
        received.frames.push(
          frame.type === "micro_turn" ? `${frame.turn.sessionId} ${frame.turn.index}` : frame.type,
        );
        if (frame.type !== "open") continue;
        const body = { model: "counting", audio: "pcm", ...(readsBatches && { batches: true }) };
        socket.send(
          encodeLinkFrame({ type: "opened", sessionId: frame.sessionId, index: 0, body }),
        );
      }
      wake();
    };
    return response;
  });
  const framesIn = async (count: number) => {
    while (received.frames.length < count) await new Promise<void>((resolve) => wake = resolve);
    const counts = { messages: received.messages, frames: received.frames.splice(0) };
    received.messages = 0;
    return counts;
  };
  const handlers = {
    onOutput: () => {},
    onAudioRest: () => {},
    onError: () => {},
    onEvent: () => {},
    onLinkLost: () => {},
  };
  const random = seededRandom(3);
  try {
    for (const batches of [true, false]) {
      readsBatches = batches;
      const link = new WorkerLinkClient(
        `ws://127.0.0.1:${server.addr.port}/v1/link`,
        createLogger("test", "error"),
      );
      const sessions = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      for (const sessionId of sessions) {
        await link.open(sessionId, { startedAtMs: 0, audio: "pcm" }, handlers);
      }
      await framesIn(3);
      const expected: string[] = [];
      for (const index of [0, 1]) {
        for (const sessionId of sessions) {
          assert.ok(link.send(randomMicroTurn(sessionId, index, random)));
          expected.push(`${sessionId} ${index}`);
        }
      }
      // Sent in one turn of the event loop: one message to a worker that reads batches, in order.
      assert.deepEqual(await framesIn(6), { messages: batches ? 1 : 6, frames: expected });
      link.close(sessions[0]);
      assert.deepEqual(await framesIn(1), { messages: 1, frames: ["close"] });
      link.disconnect();
    }
  } finally {
    await server.shutdown();
  }
});
