import assert from "node:assert/strict";
import { EgressPacer, type PacedSink } from "./egress_pacer.ts";
import { EgressClock } from "./egress_clock.ts";
import { ManualTickTimer } from "../tests/support/manual_timer.ts";

const packet = (n: number) => new Uint8Array([n]);
/** One frame a packet: the packet is the frame. */
const render = ([frame]: readonly Uint8Array<ArrayBuffer>[]) => frame;

function sink(bufferedAmount = 0): PacedSink & { sent: number[] } {
  const sent: number[] = [];
  return { sent, bufferedAmount, send: (p) => void sent.push(p[0]) };
}

Deno.test("output faster than playback keeps the newest 500 ms and counts the stale rest", () => {
  const socket = sink();
  const clock = new EgressClock(new ManualTickTimer());
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000, render, clock });
  pacer.push(Array.from({ length: 40 }, (_, i) => packet(i)));
  // The first of the newest 25 goes at once.
  assert.deepEqual(pacer.stats, {
    sentFrames: 1,
    sentPackets: 1,
    droppedStale: 15,
    droppedBackpressure: 0,
    droppedLate: 0,
    queuedMs: 480,
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

Deno.test("frames go one per 20 ms on the shared clock's ticks, each at most one tick early and never late", () => {
  const timer = new ManualTickTimer(0);
  const clock = new EgressClock(timer);
  const sentAt: number[][] = [[], []];
  const pacers = [0, 1].map((p) => {
    const socket = sink();
    socket.send = () => void sentAt[p].push(timer.now());
    return new EgressPacer(() => socket, { maxBufferedBytes: 1000, render, clock });
  });
  timer.advance(3);
  pacers[0].push(Array.from({ length: 5 }, (_, i) => packet(i)));
  assert.deepEqual(sentAt[0], [3], "the first frame goes at once");
  timer.advance(11);
  pacers[1].push(Array.from({ length: 3 }, (_, i) => packet(i)));
  assert.equal(timer.pending, 1, "two pacers, one timer");
  timer.advance(200);
  assert.deepEqual(sentAt[0], [3, 23, 43, 63, 83]);
  assert.deepEqual(sentAt[1], [14, 23, 43]);
  for (const [p, pushedAt] of [[0, 3], [1, 14]]) {
    sentAt[p].forEach((at, k) => {
      const due = pushedAt + 20 * k;
      assert.ok(at <= due && at > due - 20, `pacer ${p} frame ${k} due ${due} sent ${at}`);
    });
  }
  assert.equal(timer.pending, 0, "nothing queued, no timer");
  // Output while the last frame still plays (sent at 83, due to end at 103) waits its turn:
  // frames due at 103 and 123, sent at most one tick early.
  timer.advance(90 - timer.now());
  pacers[0].push([packet(5), packet(6)]);
  timer.advance(100);
  assert.deepEqual(sentAt[0].slice(5), [90, 110]);
});

Deno.test("a frame not ready waits for its due time (not one tick early), then is dropped as late if it is still not; the next goes on time", () => {
  const socket = sink();
  const drops: string[] = [];
  const timer = new ManualTickTimer();
  const sentAt: number[] = [];
  socket.send = (p) => void sentAt.push(timer.now(), p[0]);
  const arrived = new Set([1, 3, 4, 6, 8]);
  const clock = new EgressClock(timer);
  const pacer = new EgressPacer(() => socket, {
    maxBufferedBytes: 1000,
    render: ([frame]: readonly Uint8Array<ArrayBuffer>[]) =>
      arrived.has(frame[0]) ? frame : undefined,
    ready: (frame) => arrived.has(frame[0]),
    clock,
    onDrop: (frames, reason) => drops.push(`${frames} ${reason}`),
  });
  pacer.push([packet(1), packet(2), packet(3), packet(4), packet(5)]);
  // Frame 2 is due at 20: the tick at 20 would send it early, but it has not come; then it has.
  timer.advance(10);
  arrived.add(2);
  // Frame 5 never comes: dropped when due (80), frame 4 before it sent on time.
  timer.advance(100);
  assert.deepEqual(sentAt, [0, 1, 20, 2, 40, 3, 60, 4]);
  assert.deepEqual(drops, ["1 late"]);
  assert.equal(pacer.stats.droppedLate, 1);
  // Off the clock's phase (ticks at 130, 150... from another session): pushed at 115, frames
  // due at 115, 135, 155.
  const other = new EgressPacer(() => sink(), { maxBufferedBytes: 1000, render, clock });
  other.push(Array.from({ length: 10 }, (_, i) => packet(i)));
  timer.advance(5);
  sentAt.length = 0;
  pacer.push([packet(6), packet(7), packet(8)]);
  timer.advance(20); // the tick at 130 would send frame 7 (due 135) early: it waits
  assert.deepEqual(sentAt, [115, 6]);
  arrived.add(7);
  timer.advance(40); // at 150 it is there, late by less than a tick rather than lost
  assert.deepEqual(sentAt, [115, 6, 150, 7, 150, 8]);
  other.close();
});

Deno.test("a frame's packet is made only as it is sent: frames dropped as stale or backed up are never rendered", () => {
  const rendered: number[] = [];
  const render = ([frame]: readonly Uint8Array<ArrayBuffer>[]) => {
    rendered.push(frame[0]);
    return frame;
  };
  const socket = sink();
  const clock = new EgressClock(new ManualTickTimer());
  const pacer = new EgressPacer(() => socket, { maxBufferedBytes: 1000, render, clock });
  pacer.push(Array.from({ length: 31 }, (_, i) => packet(i)));
  assert.deepEqual(rendered, [6], "only the frame due now is rendered as they are queued");
  pacer.flush();
  assert.deepEqual(rendered, Array.from({ length: 25 }, (_, i) => 6 + i), "the 6 stale ones never");
  const backedUp = new EgressPacer(() => sink(5000), { maxBufferedBytes: 1000, render, clock });
  backedUp.push([packet(100), packet(101)]);
  backedUp.flush();
  assert.equal(backedUp.stats.droppedBackpressure, 2);
  assert.equal(rendered.length, 25, "frames dropped for a backed-up socket are not rendered");
});

Deno.test("a packet carries its due frame and the ready frames that follow and join it, up to the most a packet holds", () => {
  const timer = new ManualTickTimer(0);
  const clock = new EgressClock(timer);
  const sent: { at: number; frames: number[] }[] = [];
  const socket = sink();
  socket.send = (p) => void sent.push({ at: timer.now(), frames: [...p] });
  const arrived = new Set([0, 1, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16]);
  const pacer = new EgressPacer(() => socket, {
    maxBufferedBytes: 1000,
    render: (frames: readonly Uint8Array<ArrayBuffer>[]) =>
      frames.every((f) => arrived.has(f[0])) ? Uint8Array.from(frames, (f) => f[0]) : undefined,
    ready: (frame) => arrived.has(frame[0]),
    // Consecutive numbers join (10 does not follow 6: the model's silence between).
    joins: (previous, next) => next[0] === previous[0] + 1,
    maxFramesPerPacket: 5,
    clock,
  });
  pacer.push([0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16].map(packet));
  // Frame 2 has not come: the first packet ends before it.
  assert.deepEqual(sent, [{ at: 0, frames: [0, 1] }]);
  arrived.add(2);
  timer.advance(300);
  assert.deepEqual(sent.map((s) => s.frames), [
    [0, 1],
    [2, 3, 4, 5, 6],
    [10, 11, 12, 13, 14],
    [15, 16],
  ]);
  // Each goes when its first frame is due (at most one tick early).
  const due = [0, 40, 140, 240];
  sent.forEach(({ at }, i) => assert.ok(at <= due[i] && at > due[i] - 20, `packet ${i} at ${at}`));
  assert.equal(pacer.stats.sentFrames, 14);
  assert.equal(pacer.stats.sentPackets, 4);
});
