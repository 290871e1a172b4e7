import assert from "node:assert/strict";
import { type DeadlineTimers, MicroTurnClock } from "./micro_turn_clock.ts";
import { ManualTickTimer } from "../tests/support/manual_timer.ts";

/** Manual timers whose hop to pending input runs only when the test says. */
function manualTimers(start = 0) {
  const timer = new ManualTickTimer(start);
  const hops: (() => void)[] = [];
  const timers: DeadlineTimers = {
    setTimeout: (callback, ms) => timer.setTimeout(callback, ms),
    clearTimeout: (handle) => timer.clearTimeout(handle),
    afterPendingInput: (callback) => hops.push(callback),
  };
  return { timer, timers, hops, clock: { now: () => timer.now() } };
}

Deno.test("a passed deadline closes its micro-turn once pending input has been read", async () => {
  const { timer, timers, hops, clock } = manualTimers();
  let deadline = 200;
  const ticks: number[] = [];
  const microTurns = new MicroTurnClock(
    () => deadline,
    clock,
    (now) => {
      ticks.push(now);
      deadline += 200;
      return Promise.resolve();
    },
    (error) => assert.fail(String(error)),
    timers,
  );
  microTurns.arm();
  // The loop was busy: the timer runs 5 ms late, before any socket is read.
  timer.advance(205, 5);
  assert.deepEqual(ticks, [], "nothing closes before the input that waits is read");
  assert.equal(hops.length, 1);
  // No input completed the micro-turn: it closes at once after the hop.
  hops.shift()!();
  assert.deepEqual(ticks, [205]);
  await Promise.resolve();
  // And the clock is set for the next deadline.
  timer.advance(200);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.deepEqual(ticks, [205, 405]);
});

Deno.test("input read during the hop completes the micro-turn and nothing is concealed", () => {
  const { timer, timers, hops, clock } = manualTimers();
  let deadline = 200;
  let ticks = 0;
  const microTurns = new MicroTurnClock(
    () => deadline,
    clock,
    () => {
      ticks++;
      return Promise.resolve();
    },
    (error) => assert.fail(String(error)),
    timers,
  );
  microTurns.arm();
  timer.advance(204, 4);
  assert.equal(hops.length, 1);
  // The packet that waited unread completes the micro-turn: its deadline moves on, and the
  // session re-arms as it does after every write (ignored while the hop is pending).
  deadline = 400;
  microTurns.arm();
  assert.equal(timer.pending, 0, "no second timer while the hop is pending");
  hops.shift()!();
  assert.equal(ticks, 0, "the micro-turn closed on its packet, not on the deadline");
  // The next deadline is armed; it passes with no input and closes after its hop.
  timer.advance(196);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.equal(ticks, 1);
});

Deno.test("a stopped clock closes nothing, even with a hop pending", () => {
  const { timer, timers, hops, clock } = manualTimers();
  let ticks = 0;
  const microTurns = new MicroTurnClock(
    () => 200,
    clock,
    () => {
      ticks++;
      return Promise.resolve();
    },
    (error) => assert.fail(String(error)),
    timers,
  );
  microTurns.arm();
  timer.advance(200);
  microTurns.stop();
  hops.shift()!();
  assert.equal(ticks, 0);
  assert.equal(timer.pending, 0);
});
