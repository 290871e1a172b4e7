/**
 * The worker runtime's Prometheus metrics: step times and sizes, queue waits, deadline misses,
 * micro-turns, sessions and slots, steps by path and slot moves.
 *
 * @module
 */
import { type Counter, type Gauge, type Histogram, type Registry } from "prom-client";
import promClient from "prom-client";
import type { StepCounts } from "./interaction_model.ts";
import type { StaticStepPhases } from "./static_steps.ts";

/** Histogram buckets of a step's (or a wait for one's) seconds: 1 ms to past the deadline. */
const STEP_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5];

/** What the metrics read when they are collected. */
export interface WorkerMetricSources {
  /** Session slots the worker has. */
  capacity: number;
  /** The model's steps so far, by path (read at collection). */
  stepCounts: StepCounts;
  /** Cache slots a step computes now. */
  stepSlots(): number;
  /** Session slots free now. */
  freeSlots(): number;
}

/** The runtime's metrics, registered in one registry. */
export class WorkerMetrics {
  /** Micro-turns whose output was ready after their deadline. */
  readonly deadlineMisses: Counter;
  /** Micro-turns run. */
  readonly microTurns: Counter;
  /** Micro-turns replayed into rebuilt sessions. */
  readonly replayedMicroTurns: Counter;
  /** Sessions moved to a lower slot (gpu-worker/slot_compaction.ts). */
  readonly slotMoves: Counter;
  /** Sessions open. */
  readonly sessions: Gauge;
  readonly #stepSeconds: Histogram;
  readonly #batchSize: Histogram;
  readonly #queueWaitSeconds: Histogram;
  readonly #phaseSeconds: Histogram;

  /** Registers the metrics in `registry`; gauges and step counts read `sources` when collected. */
  constructor(registry: Registry, sources: WorkerMetricSources) {
    const registers = [registry];
    this.#stepSeconds = new promClient.Histogram({
      name: "worker_step_seconds",
      help: "Time of one batched model step",
      buckets: STEP_SECONDS_BUCKETS,
      registers,
    });
    this.#batchSize = new promClient.Histogram({
      name: "worker_step_batch_size",
      help: "Micro-turns in one model step",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.#queueWaitSeconds = new promClient.Histogram({
      name: "worker_queue_wait_seconds",
      help: "Time a micro-turn waited for its model step",
      buckets: STEP_SECONDS_BUCKETS,
      registers,
    });
    this.#phaseSeconds = new promClient.Histogram({
      name: "worker_static_step_phase_seconds",
      help: "Where a static step's time goes: write (rows on the host), upload (to the device), " +
        "launch (the run call), download (waiting for the device, outputs back), read",
      labelNames: ["phase"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.deadlineMisses = new promClient.Counter({
      name: "worker_deadline_misses_total",
      help: "Micro-turns whose output was ready after their deadline",
      registers,
    });
    this.microTurns = new promClient.Counter({
      name: "worker_micro_turns_total",
      help: "Micro-turns the worker ran",
      registers,
    });
    this.replayedMicroTurns = new promClient.Counter({
      name: "worker_replayed_micro_turns_total",
      help: "Recent micro-turns replayed into rebuilt sessions (moved here, or compacted)",
      registers,
    });
    this.sessions = new promClient.Gauge({
      name: "worker_sessions",
      help: "Sessions open on this worker",
      registers,
    });
    new promClient.Gauge({
      name: "worker_capacity",
      help: "Session slots this worker has",
      registers,
    }).set(sources.capacity);
    const steps = sources.stepCounts;
    const counted = { static: 0, dynamic: 0 };
    new promClient.Counter({
      name: "worker_model_steps_total",
      help: "Model steps by path: static (a fixed-shape bucket; a replayed graph on WebGPU) " +
        "or dynamic (the step's own shapes)",
      labelNames: ["path"],
      registers,
      collect() {
        for (const path of ["static", "dynamic"] as const) {
          this.inc({ path }, steps[path] - counted[path]);
          counted[path] = steps[path];
        }
      },
    });
    this.slotMoves = new promClient.Counter({
      name: "worker_slot_moves_total",
      help: "Sessions moved to a lower cache slot so that steps compute fewer slots",
      registers,
    });
    new promClient.Gauge({
      name: "worker_step_slots",
      help: "Cache slots a step computes now (up to the highest in use, or its static bucket)",
      registers,
      collect() {
        this.set(sources.stepSlots());
      },
    });
    new promClient.Gauge({
      name: "worker_free_slots",
      help: "Session slots free on this worker",
      registers,
      collect() {
        this.set(sources.freeSlots());
      },
    });
  }

  /** Records where one static step's time went. */
  observePhases(phases: StaticStepPhases): void {
    for (const [phase, ms] of Object.entries(phases)) {
      this.#phaseSeconds.observe({ phase }, ms / 1000);
    }
  }

  /** Records one model step: its micro-turns, duration and each micro-turn's queue wait. */
  observeStep(size: number, ms: number, waitsMs: readonly number[]): void {
    this.#stepSeconds.observe(ms / 1000);
    this.#batchSize.observe(size);
    for (const wait of waitsMs) this.#queueWaitSeconds.observe(wait / 1000);
  }
}
