/**
 * Where a new session goes: a live worker that speaks the edge's model contract and is not
 * draining, in the edge's region first and then in the configured spill-over order, the one
 * with the most free slots (ties: the lower recent step p99, then the id). When every
 * candidate is full the session is refused with a retry-after, never queued.
 *
 * @module
 */
import type { RegisteredWorker } from "../store/worker_registry.ts";

/** Raised when no worker can take a session now; says when to try again. */
export class NoWorkerCapacityError extends Error {
  /** Seconds after which a retry may find room. */
  readonly retryAfterSeconds: number;
  /**
   * @param detail why (which regions were full, or that none serve the contract)
   * @param retryAfterSeconds when to try again
   */
  constructor(detail: string, retryAfterSeconds: number) {
    super(`no worker can take a session now: ${detail}; retry after ${retryAfterSeconds} s`);
    this.name = "NoWorkerCapacityError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What a session needs of its worker. */
export interface PlacementRequest {
  /** The model contract the edge speaks. */
  contract: string;
  /** The edge's region, tried first. */
  region: string;
  /** Regions to spill over to, in order, when the edge's is full. */
  spillover: readonly string[];
  /** Seconds a refused client should wait. */
  retryAfterSeconds: number;
}

/** Whether `worker` takes new sessions of `contract`: it speaks it and is not draining. */
export function takesSessions(worker: RegisteredWorker, contract: string): boolean {
  return worker.contract === contract && !worker.draining;
}

/** Picks the worker for a new session; throws {@linkcode NoWorkerCapacityError} when none has room. */
export function chooseWorker(
  workers: readonly RegisteredWorker[],
  request: PlacementRequest,
): RegisteredWorker {
  const regions = [request.region, ...request.spillover.filter((r) => r !== request.region)];
  const eligible = workers.filter((w) => takesSessions(w, request.contract));
  for (const region of regions) {
    const candidates = eligible.filter((w) => w.region === region && w.freeSlots > 0);
    if (candidates.length === 0) continue;
    return candidates.reduce((best, w) =>
      w.freeSlots > best.freeSlots ||
        (w.freeSlots === best.freeSlots &&
          (w.stepP99Ms < best.stepP99Ms || (w.stepP99Ms === best.stepP99Ms && w.id < best.id)))
        ? w
        : best
    );
  }
  const detail = eligible.length === 0
    ? `no live worker serves contract ${request.contract}`
    : `every worker of ${regions.join(", ")} is full or draining`;
  throw new NoWorkerCapacityError(detail, request.retryAfterSeconds);
}
