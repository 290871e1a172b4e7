import assert from "node:assert/strict";
import { InputAcknowledgements } from "./input_acknowledgements.ts";

Deno.test("acknowledgements ride on the next output while input flows, alone when it stops", () => {
  const acks = new InputAcknowledgements();
  // Newer input is in: the next output carries it, once.
  assert.equal(acks.durable(1009, true), undefined);
  assert.equal(acks.carry(), 1009);
  assert.equal(acks.carry(), undefined);
  // Nothing newer is in (the client stopped, or this was the last micro-turn): sent alone.
  assert.equal(acks.durable(1019, false), 1019);
  assert.equal(acks.carry(), undefined);
});

Deno.test("an acknowledgement no output carried goes out with the next one due", () => {
  const acks = new InputAcknowledgements();
  assert.equal(acks.durable(1009, true), undefined);
  // Outputs stopped (a stalled worker) while input kept coming: the newer one goes alone and
  // nothing waits any more.
  assert.equal(acks.durable(1019, true), 1019);
  assert.equal(acks.carry(), undefined);
  // After that, outputs carry them again.
  assert.equal(acks.durable(1029, true), undefined);
  assert.equal(acks.carry(), 1029);
});

Deno.test("a new connection forgets a waiting acknowledgement", () => {
  const acks = new InputAcknowledgements();
  acks.durable(1009, true);
  acks.reset();
  assert.equal(acks.carry(), undefined);
  assert.equal(acks.durable(1019, true), undefined);
});
