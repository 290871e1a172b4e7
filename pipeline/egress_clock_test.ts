import assert from "node:assert/strict";
import { EgressClock, type Ticked } from "./egress_clock.ts";
import { ManualTickTimer } from "../tests/support/manual_timer.ts";

/** A pacer stand-in holding `frames`, one sent per tick; records each tick's bound. */
function stub(frames: number): Ticked & { bounds: number[] } {
  const bounds: number[] = [];
  return {
    bounds,
    tick(untilMs) {
      bounds.push(untilMs);
      return --frames > 0;
    },
  };
}

Deno.test("one timer ticks every 20 ms for every pacer with frames, and none runs while all are idle", () => {
  const timer = new ManualTickTimer(1000);
  const clock = new EgressClock(timer);
  const a = stub(3);
  const b = stub(5);
  clock.add(a);
  timer.advance(7);
  clock.add(b); // joins the running schedule: no second timer
  assert.equal(timer.pending, 1);
  timer.advance(200);
  // Each tick lets a pacer send what is due by the next one.
  assert.deepEqual(a.bounds, [1040, 1060, 1080]);
  assert.deepEqual(b.bounds, [1040, 1060, 1080, 1100, 1120]);
  assert.equal(clock.size, 0);
  assert.equal(timer.pending, 0, "an idle clock holds no timer");
  clock.add(a);
  assert.equal(timer.pending, 1);
  clock.delete(a);
  assert.equal(timer.pending, 0, "deleting the last pacer stops the timer");
});

Deno.test("a tick that comes late (a busy loop) is followed by one a period later, not by the missed ones in a burst", () => {
  const timer = new ManualTickTimer(0);
  const clock = new EgressClock(timer);
  const a = stub(10);
  clock.add(a);
  timer.advance(75, 55); // the tick due at 20 fires at 75
  timer.advance(40);
  assert.deepEqual(a.bounds, [95, 115, 135], "ticks at 75, 95, 115");
});
