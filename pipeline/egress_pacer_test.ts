import assert from "node:assert/strict";
import { EgressPacer, type PacedSink } from "./egress_pacer.ts";

const packet = (n: number) => new Uint8Array([n]);

function sink(bufferedAmount = 0): PacedSink & { sent: number[] } {
  const sent: number[] = [];
  return { sent, bufferedAmount, send: (p) => void sent.push(p[0]) };
}

Deno.test("output faster than playback keeps the newest 500 ms and counts the stale rest", () => {
  const socket = sink();
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000 });
  pacer.push(Array.from({ length: 40 }, (_, i) => packet(i)));
  assert.deepEqual(pacer.stats, {
    sentFrames: 0,
    droppedStale: 15,
    droppedBackpressure: 0,
    queuedMs: 500,
  });
  pacer.flush();
  assert.deepEqual(socket.sent, Array.from({ length: 25 }, (_, i) => 15 + i));
  assert.equal(pacer.stats.sentFrames, 25);
});

Deno.test("a backed-up socket gets the due frames dropped, not piled on", () => {
  const socket = sink(5000);
  const drops: string[] = [];
  const pacer = new EgressPacer(() => socket, {
    maxBufferedBytes: 1000,
    onDrop: (frames, reason) => drops.push(`${frames} ${reason}`),
  });
  pacer.push([packet(1), packet(2)]);
  pacer.flush();
  assert.deepEqual(socket.sent, []);
  assert.equal(pacer.stats.droppedBackpressure, 2);
  assert.deepEqual(drops, ["1 backpressure", "1 backpressure"]);
});

Deno.test("frames are sent one per 20 ms, not in a burst", async () => {
  const socket = sink();
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000 });
  const sentAt: number[] = [];
  const send = socket.send;
  socket.send = (p) => {
    sentAt.push(performance.now());
    send(p);
  };
  pacer.push(Array.from({ length: 5 }, (_, i) => packet(i)));
  assert.ok(socket.sent.length <= 1, "no burst");
  while (socket.sent.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
  // Timers only ever fire late, never early: the span is at least four frame intervals.
  assert.ok(sentAt[4] - sentAt[0] >= 75, `span ${sentAt[4] - sentAt[0]} ms`);
  pacer.close();
});
