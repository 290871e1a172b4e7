/**
 * Fixed-shape steps: a streaming step (one micro-turn per session) over every slot of a
 * bucket, so that each bucket's session has static shapes (ONNX Runtime folds the shape
 * computations away) and, on WebGPU, a captured graph: the first runs record the step's GPU
 * commands, later runs replay them without ONNX Runtime touching a kernel on the host
 * (bench/step_io_probe.ts: at 256 sessions 38 ms a step against 66 ms for the same model
 * with dynamic shapes). Each bucket holds the first `slots` slots of the cache; a step takes
 * the smallest bucket that holds every slot in use.
 *
 * Every slot of the bucket is a row of the step, in slot order (row = slot). A slot whose
 * session brings no micro-turn this step (idle, or free) steps a blank row whose output is
 * discarded and whose bookkeeping is not advanced: its writes land in the ring indices after
 * its newest position, which its window cannot see and its next step overwrites first, the
 * contract's write rule for a slot not in the step (docs/model-contract.md).
 *
 * A captured graph replays with the buffers it was recorded with, so each bucket's inputs and
 * outputs are device tensors bound once: a step writes its rows into them with one copy (two
 * with camera frames) and reads its outputs with one ({@linkcode DeviceCopy}). On the CPU
 * provider those tensors are host memory the step writes and reads directly. A row carries its
 * flow noise as a row of the bank the model keeps in the provider's memory
 * (gpu-worker/flow_noise.ts), a third of the bytes. One bucket: gpu-worker/static_bucket.ts.
 *
 * @module
 */
import { POSITIONS_PER_MICRO_TURN, TURN_INTS } from "./model/model_contract.ts";
import { packStepIo } from "./model/step_packing.ts";
import { flowNoiseBankRow } from "./flow_noise.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { DeviceCopy } from "./device_copy.ts";
import {
  STATIC_ROW_LAYOUT as LAYOUT,
  StaticBucket,
  type StaticBucketOptions,
} from "./static_bucket.ts";
import {
  FRAME_BYTES,
  hasFrame,
  readTurnRow,
  type SessionStep,
  type SessionStepOutput,
  writeRowState,
  writeSlotState,
  writeTurnRow,
} from "./step_rows.ts";

/** How the buckets' sessions are made, and what the steps report and read. */
export interface StaticStepOptions extends StaticBucketOptions {
  /** Told where each static step's time went. */
  onPhases?: (phases: StaticStepPhases) => void;
  /** Settles once `noiseBank` holds the bank (no step runs before). */
  noiseBankFilled: Promise<void>;
}

/**
 * Where one static step's time went, milliseconds of wall time in order: writing its rows on
 * the host, copying them (and camera frames) to the device, launching the bucket's run (on
 * WebGPU, submitting the captured graph), waiting for the device to finish and copying the
 * outputs back, and reading them on the host. Without device memory (the CPU provider) the
 * copies are nothing and the run is all of the compute.
 */
export interface StaticStepPhases {
  /** Writing the rows on the host. */
  write: number;
  /** Copying rows and frames to the device. */
  upload: number;
  /** The bucket's run call. */
  launch: number;
  /** Waiting for the device and copying outputs back. */
  download: number;
  /** Reading the outputs on the host. */
  read: number;
}

/**
 * The bucket sizes for a cache of `capacity` slots: powers of two from 8 up to a stride, then
 * multiples of the stride (64 slots for every 512 of capacity), then the capacity. A step pays
 * for every slot of its bucket, stepping or not, so the stride bounds what a large worker
 * wastes (at most 1/8 of its capacity) at about a dozen buckets.
 */
export function staticBucketSizes(capacity: number): number[] {
  const stride = 64 * Math.max(1, Math.floor(capacity / 512));
  const sizes: number[] = [];
  for (let size = 8; size < Math.min(stride, capacity); size *= 2) sizes.push(size);
  for (let size = stride; size < capacity; size += stride) sizes.push(size);
  sizes.push(capacity);
  return sizes;
}

/** The buckets of one cache and the copies that feed them; see the module doc. */
export class StaticSteps {
  readonly #buckets: StaticBucket[] = [];
  readonly #copies:
    | { rows: DeviceCopy; frames: DeviceCopy; outputs: DeviceCopy }
    | undefined;
  readonly #onPhases: ((phases: StaticStepPhases) => void) | undefined;
  /** Settles once every bucket has run (and, capturing, recorded its graph). */
  readonly ready: Promise<void>;

  /**
   * Makes a session per bucket size over `cache` (its capacity at least the largest) from
   * `modelBytes` (the contract model, which it packs with the noise bank), then runs each with
   * every row blank until its graph is recorded ({@linkcode ready}); the cache must have no
   * slot in use until then.
   */
  constructor(
    modelBytes: Uint8Array,
    cache: KvCacheSlots,
    sizes: readonly number[],
    options: StaticStepOptions,
  ) {
    this.#onPhases = options.onPhases;
    const packed = packStepIo(modelBytes, LAYOUT);
    try {
      for (const size of [...new Set(sizes)].sort((a, b) => a - b)) {
        if (size < 1 || size > cache.capacity) {
          throw new RangeError(`a bucket of ${size} slots in a cache of ${cache.capacity}`);
        }
        this.#buckets.push(new StaticBucket(packed, cache, size, options));
      }
      if (this.#buckets.some((bucket) => bucket.onDevice)) {
        const copy = (shape: ConstructorParameters<typeof DeviceCopy>[1]) =>
          new DeviceCopy(options.executionProvider, shape, options);
        this.#copies = {
          rows: copy([{ type: "float32", rank: 3 }, { type: "int32", rank: 2 }]),
          frames: copy([{ type: "uint8", rank: 5 }]),
          outputs: copy([{ type: "float32", rank: 3 }]),
        };
      }
    } catch (error) {
      this.release();
      throw error;
    }
    // ONNX Runtime records a graph on a run after the first (which allocates).
    const warmRuns = options.capture ? 3 : 1;
    this.ready = (async () => {
      await options.noiseBankFilled;
      for (const bucket of this.#buckets) {
        for (let i = 0; i < warmRuns; i++) await this.#run(bucket, [], cache, []);
      }
    })();
    this.ready.catch(() => {}); // reported by the steps that wait for it
  }

  /** Slots of the smallest bucket holding the first `span` slots, if any does. */
  bucketSlots(span: number): number | undefined {
    return this.#bucketFor(span)?.slots;
  }

  /**
   * Whether a step of `inputs` over the first `span` slots can run static: a bucket holds the
   * span, and every session brings one micro-turn whose noise is a row of the bank.
   */
  takes(inputs: readonly SessionStep[], span: number): boolean {
    return this.bucketSlots(span) !== undefined &&
      inputs.every(({ turns }) =>
        turns.length === 1 && flowNoiseBankRow(turns[0].noise) !== undefined
      );
  }

  /**
   * Steps `inputs` (one micro-turn each) in the smallest bucket holding every slot in use,
   * once {@linkcode ready}. `generations` are the slots' generations when the step was asked
   * for: a slot emptied since is written but not advanced.
   */
  async step(
    inputs: SessionStep[],
    cache: KvCacheSlots,
    generations: readonly number[],
  ): Promise<SessionStepOutput[]> {
    await this.ready;
    const bucket = this.#bucketFor(cache.span);
    if (!bucket) throw new RangeError(`no static bucket holds ${cache.span} slots`);
    return this.#run(bucket, inputs, cache, generations);
  }

  async #run(
    bucket: StaticBucket,
    inputs: SessionStep[],
    cache: KvCacheSlots,
    generations: readonly number[],
  ): Promise<SessionStepOutput[]> {
    const started = performance.now();
    const { slots } = bucket;
    const rows = bucket.hostTurns;
    const slotState = bucket.hostSlotState;
    const blank = slots; // past the last frame: no frame
    rows.fill(0);
    for (let slot = 0; slot < slots; slot++) {
      writeRowState(rows, slot, cache, slot, LAYOUT);
      rows[slot * LAYOUT.size + LAYOUT.ints + TURN_INTS.imageIndex] = blank;
      writeSlotState(slotState, slot, slot, cache, POSITIONS_PER_MICRO_TURN);
    }
    const stepping = new Uint8Array(slots);
    const frames: Uint8Array[] = [];
    for (const { slot, turns } of inputs) {
      if (slot >= slots || stepping[slot] || turns.length !== 1) {
        throw new RangeError(
          `slot ${slot} is not in use, is stepped twice or brings other than one micro-turn`,
        );
      }
      stepping[slot] = 1;
      const [turn] = turns;
      const image = hasFrame(turn) ? frames.push(turn.patches) - 1 : blank;
      writeTurnRow(rows, slot, turn, cache, slot, image, LAYOUT);
    }
    const written = performance.now();
    await this.#writeFrames(bucket, frames);
    const host = bucket.hostTensors;
    const onDevice = this.#copies !== undefined && bucket.onDevice;
    if (onDevice) {
      await this.#copies!.rows.run([host.turns, host.slotState], [bucket.turns, bucket.slotState]);
    }
    const uploaded = performance.now();
    await bucket.run();
    const launched = performance.now();
    if (onDevice) await this.#copies!.outputs.run([bucket.outputs], [host.outputs]);
    const downloaded = performance.now();
    const outputs = bucket.hostOutputs;
    const results = inputs.map(({ slot }, i) => ({
      turns: [readTurnRow(outputs, slot)],
      contextFull: cache.advance(slot, POSITIONS_PER_MICRO_TURN, generations[i]),
    }));
    if (inputs.length > 0) {
      this.#onPhases?.({
        write: written - started,
        upload: uploaded - written,
        launch: launched - uploaded,
        download: downloaded - launched,
        read: performance.now() - downloaded,
      });
    }
    return results;
  }

  /** Puts the step's frames first in the bucket's bound frames. */
  async #writeFrames(bucket: StaticBucket, frames: Uint8Array[]): Promise<void> {
    if (frames.length === 0) return;
    if (!bucket.onDevice) {
      const bound = bucket.patches.host as Uint8Array;
      frames.forEach((frame, i) => bound.set(frame, i * FRAME_BYTES));
      return;
    }
    const host = new Uint8Array(frames.length * FRAME_BYTES);
    frames.forEach((frame, i) => host.set(frame, i * FRAME_BYTES));
    const from = bucket.hostFrames(host, frames.length);
    const to = bucket.framesView(frames.length);
    try {
      await this.#copies!.frames.run([from], [to]);
    } finally {
      from.release();
      to.release();
    }
  }

  #bucketFor(span: number): StaticBucket | undefined {
    return this.#buckets.find((bucket) => bucket.slots >= Math.max(1, span));
  }

  /** Releases every bucket's session and tensors (before the cache's memory). */
  release(): void {
    for (const bucket of this.#buckets.splice(0)) bucket.release();
    if (this.#copies) { for (const copy of Object.values(this.#copies)) copy.release(); }
  }
}
