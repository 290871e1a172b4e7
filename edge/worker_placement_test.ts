import assert from "node:assert/strict";
import { chooseWorker, NoWorkerCapacityError, type PlacementRequest } from "./worker_placement.ts";
import type { RegisteredWorker } from "../store/worker_registry.ts";

const worker = (
  id: string,
  region: string,
  freeSlots: number,
  extra: Partial<RegisteredWorker> = {},
) => ({
  id,
  region,
  linkUrl: `ws://${id}/v1/link`,
  model: "reference-tiny-s1",
  contract: "interaction-v3",
  capacity: 64,
  freeSlots,
  stepP99Ms: 10,
  draining: false,
  heartbeatAt: new Date(0),
  ...extra,
});

const request: PlacementRequest = {
  contract: "interaction-v3",
  region: "eu",
  spillover: ["us", "ap"],
  retryAfterSeconds: 5,
};

Deno.test("placement: the emptiest worker of the edge's region, never a draining one or another contract", () => {
  const pool = [
    worker("eu-1", "eu", 3),
    worker("eu-2", "eu", 9),
    worker("eu-3", "eu", 50, { draining: true }),
    worker("eu-4", "eu", 60, { contract: "interaction-v2" }),
    worker("us-1", "us", 64),
  ];
  assert.equal(chooseWorker(pool, request).id, "eu-2");
  // Ties go to the faster worker, then the lower id.
  const tied = [
    worker("eu-b", "eu", 9, { stepP99Ms: 30 }),
    worker("eu-a", "eu", 9, { stepP99Ms: 30 }),
  ];
  assert.equal(
    chooseWorker([...tied, worker("eu-c", "eu", 9, { stepP99Ms: 12 })], request).id,
    "eu-c",
  );
  assert.equal(chooseWorker(tied, request).id, "eu-a");
});

Deno.test("placement: a full region spills over in the configured order; all full is refused with a retry-after", () => {
  const pool = [
    worker("eu-1", "eu", 0),
    worker("ap-1", "ap", 40),
    worker("us-1", "us", 2),
  ];
  assert.equal(chooseWorker(pool, request).id, "us-1");
  assert.equal(chooseWorker(pool, { ...request, spillover: ["ap", "us"] }).id, "ap-1");
  assert.throws(
    () => chooseWorker(pool, { ...request, spillover: [] }),
    (error) =>
      error instanceof NoWorkerCapacityError && error.retryAfterSeconds === 5 &&
      /every worker of eu is full/.test(error.message),
  );
  assert.throws(
    () => chooseWorker([worker("x", "eu", 9, { contract: "interaction-v2" })], request),
    (error) =>
      error instanceof NoWorkerCapacityError &&
      /no live worker serves contract interaction-v3/.test(error.message),
  );
});
