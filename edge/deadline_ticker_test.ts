import assert from "node:assert/strict";
import { DeadlineTicker, type DeadlineTimers } from "./deadline_ticker.ts";
import { MicroTurnClock } from "./micro_turn_clock.ts";
import { ManualTickTimer } from "../tests/support/manual_timer.ts";

/** A ticker on manual time, whose hop to pending input runs only when the test says. */
function manualTicker(tickMs = 2) {
  const timer = new ManualTickTimer(0);
  const hops: (() => void)[] = [];
  const timers: DeadlineTimers = {
    setTimeout: (callback, ms) => timer.setTimeout(callback, ms),
    clearTimeout: (handle) => timer.clearTimeout(handle),
    afterPendingInput: (callback) => hops.push(callback),
  };
  const clock = { now: () => timer.now() };
  return { timer, hops, clock, ticker: new DeadlineTicker(clock, timers, tickMs) };
}

/** A session's micro-turn clock whose closes move its deadline 200 ms on. */
function session(ticker: DeadlineTicker, clock: { now(): number }, firstDeadline: number) {
  const state = { deadline: firstDeadline, closes: [] as number[] };
  const microTurns = new MicroTurnClock(
    () => state.deadline,
    clock,
    (now) => {
      state.closes.push(now);
      state.deadline += 200;
      return Promise.resolve();
    },
    (error) => assert.fail(String(error)),
    ticker,
  );
  return { state, microTurns };
}

Deno.test("a passed deadline closes its micro-turn once pending input has been read", async () => {
  const { timer, hops, clock, ticker } = manualTicker();
  const { state, microTurns } = session(ticker, clock, 200);
  microTurns.arm();
  // The loop was busy: the timer runs 5 ms late, before any socket is read.
  timer.advance(205, 5);
  assert.deepEqual(state.closes, [], "nothing closes before the input that waits is read");
  assert.equal(hops.length, 1);
  // No input completed the micro-turn: it closes after the hop.
  hops.shift()!();
  assert.deepEqual(state.closes, [205]);
  await Promise.resolve();
  // The next deadline is watched once the close settled.
  timer.advance(200);
  hops.shift()!();
  assert.deepEqual(state.closes, [205, 405]);
});

Deno.test("input read during the hop completes the micro-turn and nothing is concealed", () => {
  const { timer, hops, clock, ticker } = manualTicker();
  const { state, microTurns } = session(ticker, clock, 200);
  microTurns.arm();
  timer.advance(204, 4);
  assert.equal(hops.length, 1);
  // The packet that waited unread completes the micro-turn: its deadline moves on, and the
  // session re-arms as it does after every write.
  state.deadline = 400;
  microTurns.arm();
  hops.shift()!();
  assert.deepEqual(state.closes, [], "the micro-turn closed on its packet, not on the deadline");
  timer.advance(196);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.deepEqual(state.closes, [400]);
});

Deno.test("one timer serves every session, waking at most once a tick", () => {
  const { timer, hops, clock, ticker } = manualTicker(2);
  // 100 sessions whose deadlines are spread over a millisecond and a half.
  const sessions = Array.from({ length: 100 }, (_, i) => session(ticker, clock, 200 + i * 0.015));
  for (const { microTurns } of sessions) microTurns.arm();
  assert.equal(timer.pending, 1, "one timer for all of them");
  // It wakes at the first deadline, then not before a tick has passed: the other 99, due
  // meanwhile, close together on that one wake-up.
  timer.advance(200);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.equal(sessions.filter(({ state }) => state.closes.length === 1).length, 1);
  timer.advance(1.9);
  assert.equal(hops.length, 0, "no wake-up within a tick of the last");
  timer.advance(0.1);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.equal(sessions.filter(({ state }) => state.closes.length === 1).length, 100);
  assert.equal(timer.pending, 0, "all are closing; the next deadlines are armed as they settle");
});

Deno.test("a deadline that moves earlier wakes the ticker earlier", () => {
  const { timer, hops, clock, ticker } = manualTicker();
  const { state, microTurns } = session(ticker, clock, 500);
  microTurns.arm();
  state.deadline = 100;
  microTurns.arm();
  timer.advance(100);
  assert.equal(hops.length, 1);
  hops.shift()!();
  assert.deepEqual(state.closes, [100]);
});

Deno.test("a stopped clock closes nothing, and the last one leaves no timer behind", () => {
  const { timer, hops, clock, ticker } = manualTicker();
  const { state, microTurns } = session(ticker, clock, 200);
  const other = session(ticker, clock, 300);
  microTurns.arm();
  other.microTurns.arm();
  timer.advance(200);
  microTurns.stop();
  other.microTurns.stop();
  hops.shift()!();
  assert.deepEqual(state.closes, []);
  assert.deepEqual(other.state.closes, []);
  assert.equal(timer.pending, 0);
  assert.equal(ticker.size, 0);
});

Deno.test("each session's deadline is looked at about once a micro-turn, not at every wake-up", async () => {
  const { timer, hops, clock, ticker } = manualTicker(2);
  // 100 sessions, deadlines 2 ms apart: with this many, the ticker wakes every tick. Each
  // session's micro-turn closes on its packets 5 ms before its deadline, moving it 200 ms on.
  let looks = 0;
  const sessions = Array.from({ length: 100 }, (_, i) => {
    const state = { deadline: 200 + 2 * i, closes: 0 };
    const microTurns = new MicroTurnClock(
      () => (looks++, state.deadline),
      clock,
      () => {
        state.closes++;
        state.deadline += 200;
        return Promise.resolve();
      },
      (error) => assert.fail(String(error)),
      ticker,
    );
    microTurns.arm();
    return { state, microTurns };
  });
  // One stalled session: its packets stop, and its deadlines close its micro-turns.
  const stalled = sessions[50];
  for (let ms = 0; ms < 1000; ms++) {
    timer.advance(1);
    for (const { state, microTurns } of sessions) {
      if (state !== stalled.state && timer.now() >= state.deadline - 5) {
        state.deadline += 200;
        microTurns.arm();
      }
    }
    while (hops.length > 0) hops.shift()!();
    await Promise.resolve(); // closes settle, and their sessions re-arm
  }
  // Each re-arm after a close on packets looks once (500), the ticker about as often again; a
  // scan of every session at every wake-up looked over 14,000 times.
  assert.ok(looks < 1500, `${looks} looks at deadlines in a second of 100 sessions`);
  assert.deepEqual(sessions.map(({ state }) => state.closes).filter((n) => n > 0), [4]);
  assert.equal(
    stalled.state.closes,
    4,
    "the stalled one closed at its deadlines: 300, 500, 700, 900",
  );
});
