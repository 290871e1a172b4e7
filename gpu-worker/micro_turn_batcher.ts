/**
 * Continuous batching of micro-turns: whatever is ready when the model is free goes into one
 * step, at most one micro-turn per session (a session's next turn depends on the state its
 * previous turn leaves), up to `maxBatch`. Sessions join and leave between steps.
 *
 * Bulk work (a prefill: a session opened with its context, rebuilt, or replayed) never shares
 * a step with live micro-turns, and the two take turns when both wait: a live micro-turn waits
 * for at most one bulk step, and a burst of live ones never starves a session being opened.
 *
 * @module
 */

/** A unit of work keyed by the session it advances. */
export interface BatchItem {
  /** The session; two items of one session never share a step. */
  sessionId: string;
}

/** Runs one model step over a batch; results are in input order. */
export type StepFunction<I, O> = (batch: I[]) => Promise<O[]>;

interface QueuedItem<I, O> {
  item: I;
  queuedAt: number;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

/** Observes a step: its batch size, its duration and how long each item waited for it (ms). */
export type StepObserver = (batchSize: number, stepMs: number, queueWaitsMs: number[]) => void;

/** Queues items and runs them in batched steps, one step at a time. */
export class MicroTurnBatcher<I extends BatchItem, O> {
  #queue: QueuedItem<I, O>[] = [];
  #running = false;
  #bulk: (item: I) => boolean;
  #lastWasBulk = false;
  #draining: Promise<void> = Promise.resolve();
  #step: StepFunction<I, O>;
  #maxBatch: number;
  #onStep: StepObserver;

  /**
   * @param step the model step
   * @param options batch bound and a hook that observes each step
   */
  constructor(
    step: StepFunction<I, O>,
    options: { maxBatch?: number; onStep?: StepObserver; bulk?: (item: I) => boolean } = {},
  ) {
    this.#step = step;
    this.#bulk = options.bulk ?? (() => false);
    this.#maxBatch = options.maxBatch ?? 64;
    this.#onStep = options.onStep ?? (() => {});
  }

  /** Resolves once no step is running and none is queued. */
  idle(): Promise<void> {
    return this.#draining;
  }

  /** Items waiting for a step. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues one item; resolves with its output once its step ran. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, queuedAt: performance.now(), resolve, reject });
      if (!this.#running) this.#draining = this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0) {
      const batch = this.#take();
      const started = performance.now();
      try {
        const outputs = await this.#step(batch.map((entry) => entry.item));
        this.#onStep(
          batch.length,
          performance.now() - started,
          batch.map((entry) => started - entry.queuedAt),
        );
        batch.forEach((entry, i) => entry.resolve(outputs[i]));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.#running = false;
  }

  /**
   * The next step's batch, taken out of the queue: each session's oldest item is eligible;
   * bulk after live when both wait, else whichever kind waits.
   */
  #take(): QueuedItem<I, O>[] {
    const seen = new Set<string>();
    const eligible = new Set<QueuedItem<I, O>>();
    let live = 0;
    let bulk = 0;
    for (const entry of this.#queue) {
      if (seen.has(entry.item.sessionId)) continue;
      seen.add(entry.item.sessionId);
      eligible.add(entry);
      if (this.#bulk(entry.item)) bulk++;
      else live++;
    }
    const takeBulk = bulk > 0 && (live === 0 || !this.#lastWasBulk);
    this.#lastWasBulk = takeBulk;
    const batch: QueuedItem<I, O>[] = [];
    const rest: QueuedItem<I, O>[] = [];
    for (const entry of this.#queue) {
      const fits = eligible.has(entry) && this.#bulk(entry.item) === takeBulk &&
        batch.length < this.#maxBatch;
      (fits ? batch : rest).push(entry);
    }
    this.#queue = rest;
    return batch;
  }
}
