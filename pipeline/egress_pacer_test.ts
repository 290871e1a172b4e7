import assert from "node:assert/strict";
import { EgressPacer, type PacedSink } from "./egress_pacer.ts";

const packet = (n: number) => new Uint8Array([n]);
const render = (frame: Uint8Array<ArrayBuffer>) => frame;

function sink(bufferedAmount = 0): PacedSink & { sent: number[] } {
  const sent: number[] = [];
  return { sent, bufferedAmount, send: (p) => void sent.push(p[0]) };
}

Deno.test("output faster than playback keeps the newest 500 ms and counts the stale rest", () => {
  const socket = sink();
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000, render });
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
    render,
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
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000, render });
  const sentAt: number[] = [];
  const send = socket.send;
  socket.send = (p) => {
    sentAt.push(performance.now());
    send(p);
  };
  const pushedAt = performance.now();
  pacer.push(Array.from({ length: 5 }, (_, i) => packet(i)));
  assert.ok(socket.sent.length <= 1, "no burst");
  while (socket.sent.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
  // Frame k is due 20 k ms after the push, and timers fire late, never early: on a loaded
  // machine the first frame may go out late, but none goes out before its due time.
  sentAt.forEach((at, k) =>
    assert.ok(at - pushedAt >= 20 * k - 1, `frame ${k} at ${at - pushedAt} ms`)
  );
  pacer.close();
});

Deno.test("a frame's packet is made only as it is sent: frames dropped as stale or backed up are never rendered", () => {
  const rendered: number[] = [];
  const render = (frame: Uint8Array<ArrayBuffer>) => {
    rendered.push(frame[0]);
    return frame;
  };
  const socket = sink();
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000, render });
  pacer.push(Array.from({ length: 31 }, (_, i) => packet(i)));
  assert.deepEqual(rendered, [], "nothing is rendered as it is queued");
  pacer.flush();
  assert.deepEqual(rendered, Array.from({ length: 25 }, (_, i) => 6 + i), "the 6 stale ones never");
  const backedUp = new EgressPacer(() => sink(5000), { maxBufferedBytes: 1000, render });
  backedUp.push([packet(100), packet(101)]);
  backedUp.flush();
  assert.equal(backedUp.stats.droppedBackpressure, 2);
  assert.equal(rendered.length, 25, "frames dropped for a backed-up socket are not rendered");
});
