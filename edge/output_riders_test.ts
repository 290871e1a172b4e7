import assert from "node:assert/strict";
import { INPUT_WAIT_MS, MAX_ACK_HOLD_MS, OutputRiders } from "./output_riders.ts";
import type { OutputMessage, ServerMessage, SessionStats } from "../protocol/client_messages.ts";
import { EgressClock } from "../pipeline/egress_clock.ts";
import { ManualTickTimer } from "../tests/support/manual_timer.ts";

const OUTPUT: OutputMessage = {
  type: "output",
  index: 7,
  control: "speak",
  text: "",
  audioFrames: 10,
};

/** A session's riders on a clock driven by hand; `newest` is the newest input sequence in. */
function session() {
  const alone: ServerMessage[] = [];
  const timer = new ManualTickTimer(0);
  const state = { newest: 0 };
  const riders = new OutputRiders({
    sendAlone: (message) => alone.push(message),
    newerInput: (sequence) => state.newest !== sequence,
    clock: new EgressClock(timer),
  });
  return { riders, alone, timer, state };
}

/** Stats whose `videoDropped` tells them apart. */
function stats(videoDropped: number): SessionStats {
  return {
    jitter: {} as SessionStats["jitter"],
    egress: {} as SessionStats["egress"],
    videoDropped,
  };
}

Deno.test("an acknowledgement rides on the next output while input flows", () => {
  const { riders, alone, timer, state } = session();
  state.newest = 1012;
  riders.durable(1009);
  timer.advance(1000);
  assert.deepEqual(alone, []);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1009 });
  assert.equal(riders.carry(OUTPUT), OUTPUT);
});

Deno.test("with no newer input yet, an acknowledgement waits for it a little, then goes alone", () => {
  const { riders, alone, timer, state } = session();
  // The flush fell between two packets: the next one comes in time, an output carries it.
  state.newest = 1009;
  riders.durable(1009);
  timer.advance(INPUT_WAIT_MS / 2);
  state.newest = 1010;
  timer.advance(INPUT_WAIT_MS * 2);
  assert.deepEqual(alone, []);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1009 });
  // The input stopped: nothing newer comes, so no micro-turn will send an output for it.
  riders.durable(1010);
  timer.advance(INPUT_WAIT_MS - 20);
  assert.deepEqual(alone, []);
  timer.advance(40);
  assert.deepEqual(alone, [{ type: "ack", sequence: 1010 }]);
  assert.equal(riders.carry(OUTPUT), OUTPUT);
  assert.equal(timer.pending, 0, "nothing left on the clock");
});

Deno.test("a newer acknowledgement replaces the one waiting; one that waited too long goes alone", () => {
  const { riders, alone, timer, state } = session();
  state.newest = 2000;
  // Two flushes before the next output: it carries the newer one only.
  riders.durable(1009);
  timer.advance(150);
  riders.durable(1014);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1014 });
  // Outputs stopped (a stalled worker) while input kept coming: once the oldest waiting one
  // has waited its time, the newest goes alone and nothing waits any more.
  riders.durable(1019);
  timer.advance(MAX_ACK_HOLD_MS / 2);
  riders.durable(1024);
  assert.deepEqual(alone, []);
  timer.advance(MAX_ACK_HOLD_MS / 2);
  riders.durable(1029);
  assert.deepEqual(alone, [{ type: "ack", sequence: 1029 }]);
  assert.equal(riders.carry(OUTPUT), OUTPUT);
  // After that, outputs carry them again, the wait counted afresh.
  timer.advance(200);
  riders.durable(1034);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1034 });
  assert.equal(alone.length, 1);
});

Deno.test("stats ride on the next output; when outputs stopped, the next second's go alone", () => {
  const { riders, alone, state } = session();
  state.newest = 2000;
  riders.stats(stats(1));
  riders.durable(1009);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1009, stats: stats(1) });
  riders.stats(stats(2));
  riders.stats(stats(3));
  assert.deepEqual(alone, [{ type: "stats", ...stats(3) }]);
  assert.equal(riders.carry(OUTPUT), OUTPUT);
});

Deno.test("a new connection forgets what waits", () => {
  const { riders, alone, timer, state } = session();
  state.newest = 1009;
  riders.durable(1009);
  riders.stats(stats(1));
  riders.reset();
  timer.advance(1000);
  assert.deepEqual(alone, [], "what was forgotten does not go alone later");
  assert.equal(riders.carry(OUTPUT), OUTPUT);
  state.newest = 1020;
  riders.durable(1019);
  assert.deepEqual(riders.carry(OUTPUT), { ...OUTPUT, ack: 1019 });
});
