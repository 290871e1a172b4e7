import assert from "node:assert/strict";
import { watchEventLoopLag } from "./event_loop_lag.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a blocked event loop shows as lag, and nothing is measured once stopped", async () => {
  const stop = new AbortController();
  const lags: number[] = [];
  watchEventLoopLag((lagMs) => lags.push(lagMs), { signal: stop.signal, intervalMs: 5 });
  // Hold the thread 60 ms: the timer due 5 ms after it was set runs at least 55 ms late
  // (and before this test's later timer).
  const until = performance.now() + 60;
  while (performance.now() < until) { /* busy */ }
  await sleep(20);
  assert.ok(Math.max(...lags) >= 50, `lags ${lags.map((lag) => lag.toFixed(1))}`);
  assert.ok(lags.every((lag) => lag >= 0));
  stop.abort();
  const measured = lags.length;
  await sleep(30);
  assert.equal(lags.length, measured, "no measurement after stop");
});
