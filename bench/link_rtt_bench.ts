/**
 * Why the worker link uses the npm `ws` client: round trip of one micro-turn-sized frame
 * (1.7 kB out, 6.4 kB back, as on the link) over loopback, with Deno's built-in WebSocket
 * client and with `ws`, against the same Deno.serve WebSocket server.
 * Writes bench/results/link-rtt.json.
 *
 *   deno run -A bench/link_rtt_bench.ts
 *
 * @module
 */
import { writeResult } from "./bench_support.ts";
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";

const REQUEST_BYTES = 1700;
const REPLY_BYTES = 6400;
const ROUNDS = 40;

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = () => socket.send(new Uint8Array(REPLY_BYTES));
  return response;
});
const url = `ws://127.0.0.1:${server.addr.port}/`;

interface MinimalSocket {
  binaryType: string;
  onopen: unknown;
  onmessage: unknown;
  send(data: Uint8Array): void;
  close(): void;
}

async function medianRoundTripMs(socket: MinimalSocket): Promise<number> {
  socket.binaryType = "arraybuffer";
  await new Promise((resolve) => socket.onopen = resolve);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    await new Promise((resolve) => {
      socket.onmessage = resolve;
      socket.send(new Uint8Array(REQUEST_BYTES));
    });
    times.push(performance.now() - start);
    // Spaced like micro-turns, so each frame finds the connection idle.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  socket.close();
  return times.sort((a, b) => a - b)[ROUNDS / 2];
}

const denoMs = await medianRoundTripMs(new WebSocket(url) as unknown as MinimalSocket);
const wsMs = await medianRoundTripMs(new NodelayWebSocket(url) as unknown as MinimalSocket);
await server.shutdown();
const result = {
  request_bytes: REQUEST_BYTES,
  reply_bytes: REPLY_BYTES,
  deno_websocket_median_ms: Number(denoMs.toFixed(2)),
  ws_package_median_ms: Number(wsMs.toFixed(2)),
  ratio: Number((denoMs / wsMs).toFixed(1)),
};
console.log(JSON.stringify(result, null, 2));
await writeResult("link-rtt.json", result);
