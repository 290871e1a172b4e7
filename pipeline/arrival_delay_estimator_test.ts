import assert from "node:assert/strict";
import { ArrivalDelayEstimator } from "./arrival_delay_estimator.ts";
import { seededRandom } from "../lib/seeded_random.ts";

/** Feeds 20 ms packets whose one-way delay is `delayMs(i)`, from packet `from` to `to`. */
function feed(
  estimator: ArrivalDelayEstimator,
  from: number,
  to: number,
  delayMs: (i: number) => number,
) {
  for (let i = from; i < to; i++) estimator.observe((i + 1) * 20, (i + 1) * 20 + delayMs(i));
}

Deno.test("a network that stays slower is followed: the wait covers its new delays within seconds", () => {
  const random = seededRandom(4);
  const estimator = new ArrivalDelayEstimator(40);
  feed(estimator, 0, 500, () => 40 + random() * 10); // 10 s of a calm link
  /** How long after its media ends a packet is waited for: base offset plus target. */
  const wait = () => estimator.baseMs + estimator.targetDelayMs;
  assert.ok(wait() < 80, `calm wait ${wait()} ms`);
  // Then every packet 300-400 ms later than before, for 10 s: more than a spike.
  feed(estimator, 500, 1000, () => 340 + random() * 100);
  assert.ok(wait() >= 420, `wait ${wait()} ms`);
});

Deno.test("one stall and the burst that drains it leave the target where it was", () => {
  const random = seededRandom(5);
  const estimator = new ArrivalDelayEstimator(40);
  feed(estimator, 0, 100, () => 40 + random() * 10); // 2 s of a calm link
  const calm = estimator.targetDelayMs;
  // A 1.5 s stall: the packets sent during it arrive together at its end (one TCP stream),
  // then the link is calm again.
  const stallEndsAt = 100 * 20 + 1500;
  for (let i = 100; i < 175; i++) estimator.observe((i + 1) * 20, stallEndsAt + 40);
  feed(estimator, 175, 250, () => 40 + random() * 10);
  assert.equal(estimator.stats.spikes, 1);
  assert.ok(estimator.targetDelayMs <= calm + 4, `target ${estimator.targetDelayMs}, calm ${calm}`);
});

Deno.test("a long outage and the backlog draining after it keep later deadlines live", () => {
  const random = seededRandom(6);
  const estimator = new ArrivalDelayEstimator(40);
  feed(estimator, 0, 500, () => 40 + random() * 10); // 10 s of a calm link
  const wait = () => estimator.baseMs + estimator.targetDelayMs;
  const calm = wait();
  // 15 s without delivery, then the backlog drains for 30 s: each packet half a second less
  // late each second (a link barely faster than the audio), as on a recorded EV-DO uplink.
  const outageEndsAt = 500 * 20 + 15_000;
  const backlog = (i: number) => {
    const sentAt = (i + 1) * 20;
    return Math.max(40, outageEndsAt + (sentAt - 500 * 20) / 2 - sentAt);
  };
  // Halfway through the drain packets are still 10 s behind. That backlog is not the link's
  // new baseline: a micro-turn is waited for at most the bounded target above a base that rose
  // slowly, not the 10 s the backlog is behind.
  feed(estimator, 500, 1250, backlog);
  assert.ok(wait() <= calm + 1000 + 25 * 10, `wait ${wait()} ms in the drain, calm ${calm}`);
  feed(estimator, 1250, 2000, backlog);
  feed(estimator, 2000, 2500, () => 40 + random() * 10); // calm again
  assert.ok(estimator.baseMs <= calm, `base ${estimator.baseMs} ms once calm, calm wait ${calm}`);
});
