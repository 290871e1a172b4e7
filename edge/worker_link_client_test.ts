import assert from "node:assert/strict";
import { WorkerLinkClient } from "./worker_link_client.ts";
import { createLogger } from "../lib/logger.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import { decodeLinkFrame } from "../protocol/worker_link.ts";

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
