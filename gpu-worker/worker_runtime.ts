/**
 * The worker's session runtime: sessions open into preallocated key/value cache slots, each
 * micro-turn is batched with other sessions' into one model step (continuous batching), its
 * new keys and values are appended to the session's slot, and the output (audio, text,
 * control) goes back. Nothing re-runs earlier context. Every micro-turn has a deadline (its
 * arrival plus `deadlineMs`); queue wait, step time and misses are metrics. A session whose
 * context window fills is reported once (`context_full`) and goes on with a sliding window;
 * sessions idle past `idleTimeoutMs` are reclaimed by `sweepIdle`.
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { InteractionModel, SessionStep, TurnInput, TurnOutput } from "./interaction_model.ts";
import { MicroTurnBatcher } from "./micro_turn_batcher.ts";
import { compactSlots } from "./slot_compaction.ts";
import { WorkerMetrics } from "./worker_metrics.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";
import { POSITIONS_PER_MICRO_TURN, TEXT_BYTES_PER_MICRO_TURN } from "./model/model_contract.ts";
import { PATCHES_PER_FRAME, SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { flowNoise } from "./flow_noise.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";

/** Raised for a micro-turn or close naming a session this worker does not hold. */
export class UnknownWorkerSessionError extends Error {
  /** @param sessionId the session */
  constructor(sessionId: string) {
    super(`session ${sessionId} is not open on this worker`);
    this.name = "UnknownWorkerSessionError";
  }
}

/** Raised when a session is opened twice. */
export class SessionAlreadyOpenError extends Error {
  /** @param sessionId the session */
  constructor(sessionId: string) {
    super(`session ${sessionId} is already open on this worker`);
    this.name = "SessionAlreadyOpenError";
  }
}

interface WorkerSession {
  slot: number;
  startedAtMs: number;
  pendingText: Uint8Array;
  textDecoder: TextDecoder;
  noiseSeed: number;
  lastActiveMs: number;
  contextFullReported: boolean;
  /** Micro-turns of text the last rebuild prefilled (a replay fills up to its budget after). */
  rebuiltTurns: number;
}

interface StepItem {
  sessionId: string;
  session: WorkerSession;
  step: SessionStep;
  /** Empty the session's cache first (a rebuild). */
  reset?: boolean;
}

/** Something the worker tells the edge about a session, outside any micro-turn's output. */
export interface WorkerSessionEvent {
  /** `context_full`: the window is full; older context now slides out (compaction's cue). */
  kind: "context_full";
  /** Positions the window holds. */
  window: number;
  /** Absolute positions seen so far. */
  positions: number;
}

/** Options for {@linkcode WorkerRuntime}. */
export interface WorkerRuntimeOptions {
  /** Sessions this worker holds at most. Default 64. */
  capacity?: number;
  /**
   * Micro-turns in one model step at most. Default: the capacity. A lower bound splits a round
   * of every session's micro-turns into several steps, and with static steps each computes its
   * whole bucket (every slot up to the highest in use), so the round costs several buckets.
   */
  maxBatch?: number;
  /** A micro-turn's output is due this long after it arrived. Default 200 ms. */
  deadlineMs?: number;
  /** Sessions without a micro-turn for this long are reclaimed by `sweepIdle`. Default 60 s. */
  idleTimeoutMs?: number;
  /** Told about session events (context full). */
  onEvent?: (sessionId: string, event: WorkerSessionEvent) => void;
  /** Told when a session opened or closed (its free slots changed). */
  onSessionsChanged?: () => void;
  /** Wall clock: a rebuilt context is told how much time has passed. Default the system's. */
  clock?: Clock;
  /** Registry the runtime's metrics register in. */
  registry: Registry;
}

/** Holds sessions and runs their micro-turns through the model. */
export class WorkerRuntime {
  readonly #model: InteractionModel;
  readonly #slots: KvCacheSlots;
  readonly #sessions = new Map<string, WorkerSession>();
  readonly #batcher: MicroTurnBatcher<StepItem, TurnOutput>;
  readonly #deadlineMs: number;
  readonly #clock: Clock;
  readonly #idleTimeoutMs: number;
  readonly #onEvent: (sessionId: string, event: WorkerSessionEvent) => void;
  readonly #onSessionsChanged: () => void;
  readonly #metrics: WorkerMetrics;
  /** The last steps' durations, a ring. */
  readonly #recentStepsMs = new Float64Array(256);
  #stepCount = 0;

  /**
   * @param model the loaded interaction model
   * @param options capacity, batching, deadlines and metrics
   */
  constructor(model: InteractionModel, options: WorkerRuntimeOptions) {
    this.#model = model;
    this.#slots = model.createCache(options.capacity ?? 64, {
      onStepPhases: (phases) => this.#metrics.observePhases(phases),
    });
    this.#deadlineMs = options.deadlineMs ?? 200;
    this.#clock = options.clock ?? systemClock;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#onSessionsChanged = options.onSessionsChanged ?? (() => {});
    this.#metrics = new WorkerMetrics(options.registry, {
      capacity: this.#slots.capacity,
      stepCounts: model.stepCounts,
      stepSlots: () => model.stepSlots(this.#slots, this.#slots.span),
      freeSlots: () => this.freeSlots,
    });
    this.#batcher = new MicroTurnBatcher((batch) => this.#step(batch), {
      maxBatch: options.maxBatch ?? this.#slots.capacity,
      bulk: (item) => item.step.turns.length > 1 || item.reset === true,
      onStep: (size, ms, waits) => {
        this.#recentStepsMs[this.#stepCount++ % this.#recentStepsMs.length] = ms;
        this.#metrics.observeStep(size, ms, waits);
      },
    });
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Session slots there are. */
  get capacity(): number {
    return this.#slots.capacity;
  }

  /**
   * Settles once the model is ready to step the cache (on WebGPU, each static-step bucket's
   * graph recorded); steps asked for earlier wait for it.
   */
  get ready(): Promise<void> {
    return this.#model.cacheReady(this.#slots);
  }

  /** Session slots free now. */
  get freeSlots(): number {
    return this.#slots.capacity - this.#slots.used;
  }

  /** The 99th percentile of the recent model steps (the last 256), milliseconds; 0 before any. */
  get recentStepP99Ms(): number {
    const steps = this.#recentStepsMs.slice(
      0,
      Math.min(this.#stepCount, this.#recentStepsMs.length),
    )
      .sort((a, b) => a - b);
    return steps.length ? steps[Math.min(steps.length - 1, Math.floor(steps.length * 0.99))] : 0;
  }

  /** Cache slots in use (equals `sessionCount` unless something leaked). */
  get slotsInUse(): number {
    return this.#slots.used;
  }

  /** Bytes of preallocated key/value cache. */
  get cacheBytes(): number {
    return this.#slots.bytes;
  }

  /** Model name, for the session-opened reply. */
  get modelName(): string {
    return this.#model.name;
  }

  /**
   * Opens a session into a free slot, its context prefilled with `context` (text of a
   * compaction and the conversation since, when the session existed before).
   * @param startedAtMs when the session began (wall clock), the origin of its elapsed time
   */
  open(sessionId: string, startedAtMs: number, context = ""): Promise<void> {
    if (this.#sessions.has(sessionId)) throw new SessionAlreadyOpenError(sessionId);
    const slot = this.#slots.acquire();
    this.#sessions.set(sessionId, {
      slot,
      startedAtMs,
      pendingText: new Uint8Array(0),
      textDecoder: new TextDecoder(),
      noiseSeed: hashString(sessionId),
      lastActiveMs: performance.now(),
      contextFullReported: false,
      rebuiltTurns: 0,
    });
    this.#metrics.sessions.set(this.#sessions.size);
    this.#onSessionsChanged();
    return context ? this.rebuild(sessionId, context) : Promise.resolve();
  }

  /**
   * Rebuilds a session's context from text (after a compaction, or on resume): empties its
   * cache and prefills it with `context`, 32 bytes a micro-turn, at most half the window
   * (the newest text kept). Runs in order with the session's micro-turns.
   */
  async rebuild(sessionId: string, context: string): Promise<void> {
    const session = this.#sessions.get(sessionId);
    if (!session) throw new UnknownWorkerSessionError(sessionId);
    const maxTurns = this.#model.geometry.window / POSITIONS_PER_MICRO_TURN / 2;
    let bytes = new TextEncoder().encode(context);
    bytes = bytes.subarray(Math.max(0, bytes.length - maxTurns * TEXT_BYTES_PER_MICRO_TURN));
    const count = Math.max(1, Math.ceil(bytes.length / TEXT_BYTES_PER_MICRO_TURN));
    const elapsedSeconds = Math.max(0, (this.#clock.now() - session.startedAtMs) / 1000);
    session.contextFullReported = false;
    session.rebuiltTurns = count;
    await this.#batcher.submit({
      sessionId,
      session,
      reset: true,
      step: {
        turns: Array.from({ length: count }, (_, i) => ({
          dmel: PREFILL_DMEL,
          text: bytes.subarray(i * TEXT_BYTES_PER_MICRO_TURN, (i + 1) * TEXT_BYTES_PER_MICRO_TURN),
          elapsedSeconds,
          noise: flowNoise(session.noiseSeed, -1 - i),
        })),
        slot: session.slot,
      },
    });
  }

  /**
   * Appends a session's recent micro-turns to its context (after a rebuild on this worker, when
   * the session moved here or was compacted): their dMel codes, camera frames and text are
   * prefilled in one batched pass, in order with the session's micro-turns, and produce no
   * output. The newest micro-turns are replayed, up to three quarters of the window with the
   * rebuild's text: a quarter stays free, so a rebuilt context is not full at once (which
   * would ask for another compaction straight away).
   */
  async replay(sessionId: string, turns: MicroTurn[]): Promise<void> {
    const session = this.#sessions.get(sessionId);
    if (!session) throw new UnknownWorkerSessionError(sessionId);
    const budget = Math.floor((this.#model.geometry.window * 3) / 4 / POSITIONS_PER_MICRO_TURN) -
      session.rebuiltTurns;
    const replayed = turns.slice(Math.max(0, turns.length - Math.max(0, budget)));
    if (replayed.length === 0) return;
    await this.#batcher.submit({
      sessionId,
      session,
      step: {
        turns: replayed.map((turn) => this.#stepTurn(session, turn, turn.text)),
        slot: session.slot,
      },
    });
    this.#metrics.replayedMicroTurns.inc(replayed.length);
  }

  /** Positions a session's context holds (at most the window). */
  contextPositions(sessionId: string): number {
    const session = this.#sessions.get(sessionId);
    return session ? this.#slots.filled(session.slot) : 0;
  }

  /** Runs one micro-turn of an open session, batched with whatever else is ready. */
  async run(turn: MicroTurn): Promise<MicroTurnOutput> {
    const session = this.#sessions.get(turn.sessionId);
    if (!session) throw new UnknownWorkerSessionError(turn.sessionId);
    const arrived = performance.now();
    session.lastActiveMs = arrived;
    // Text longer than one micro-turn's share waits for the next ones.
    const text = concat(session.pendingText, new TextEncoder().encode(turn.text));
    session.pendingText = text.slice(TEXT_BYTES_PER_MICRO_TURN);
    const output = await this.#batcher.submit({
      sessionId: turn.sessionId,
      session,
      step: {
        turns: [this.#stepTurn(session, turn, text.subarray(0, TEXT_BYTES_PER_MICRO_TURN))],
        slot: session.slot,
      },
    });
    this.#metrics.microTurns.inc();
    const stepMs = performance.now() - arrived;
    if (stepMs > this.#deadlineMs) this.#metrics.deadlineMisses.inc();
    const audio = new Int16Array(output.audio.length);
    for (let i = 0; i < audio.length; i++) {
      audio[i] = Math.round(Math.max(-1, Math.min(1, output.audio[i])) * 32767);
    }
    return {
      sessionId: turn.sessionId,
      index: turn.index,
      control: output.control,
      stepMs,
      audio,
      text: output.textByte === 0
        ? ""
        : session.textDecoder.decode(Uint8Array.of(output.textByte), { stream: true }),
    };
  }

  /** What the model steps for one micro-turn of a session, with `text` as its text. */
  #stepTurn(session: WorkerSession, turn: MicroTurn, text: string | Uint8Array): TurnInput {
    return {
      dmel: turn.dmel,
      text: typeof text === "string"
        ? new TextEncoder().encode(text).subarray(0, TEXT_BYTES_PER_MICRO_TURN)
        : text,
      patches: turn.patchCount === PATCHES_PER_FRAME ? turn.patches : undefined,
      elapsedSeconds: Math.max(0, (turn.wallClockMs - session.startedAtMs) / 1000),
      noise: flowNoise(session.noiseSeed, turn.index),
    };
  }

  /**
   * Closes every session and releases the cache's device memory once the step running now
   * (which writes into it) has finished; the runtime is unusable afterwards.
   */
  async release(): Promise<void> {
    for (const sessionId of [...this.#sessions.keys()]) this.close(sessionId);
    await this.#batcher.idle();
    this.#slots.release();
  }

  /** Closes a session and returns its slot; unknown ids are ignored (close is idempotent). */
  close(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    this.#sessions.delete(sessionId);
    this.#slots.release(session.slot);
    this.#metrics.sessions.set(this.#sessions.size);
    this.#onSessionsChanged();
  }

  /** Closes sessions idle for longer than the idle timeout; returns their ids. */
  sweepIdle(nowMs = performance.now()): string[] {
    const idle = [...this.#sessions].filter(([, s]) => nowMs - s.lastActiveMs > this.#idleTimeoutMs)
      .map(([id]) => id);
    for (const sessionId of idle) this.close(sessionId);
    return idle;
  }

  /**
   * One batched model step; the model appends each session's new keys and values to its slot.
   * Items bringing different numbers of micro-turns (a prefill among streaming turns) run as
   * separate model calls, and a prefill longer than one call holds runs in chunks.
   */
  async #step(batch: StepItem[]): Promise<TurnOutput[]> {
    this.#metrics.slotMoves.inc(await compactSlots(this.#model, this.#slots, this.#sessions));
    const results = new Map<StepItem, TurnOutput>();
    // Closed while queued (or during an earlier chunk): its slot may be someone else's now.
    const live = (item: StepItem) => this.#sessions.get(item.sessionId) === item.session;
    for (const item of batch) if (live(item) && item.reset) this.#slots.reset(item.session.slot);
    const perCall = Math.max(
      1,
      Math.floor(this.#model.maxPositionsPerCall / POSITIONS_PER_MICRO_TURN),
    );
    const groups = Map.groupBy(batch, (item) => item.step.turns.length);
    for (const [turns, group] of groups) {
      for (let from = 0; from < turns; from += perCall) {
        const stepping = group.filter(live);
        if (stepping.length === 0) break;
        const outputs = await this.#model.step(
          stepping.map((item) => ({
            slot: item.session.slot,
            turns: item.step.turns.slice(from, from + perCall),
          })),
          this.#slots,
        );
        stepping.forEach((item, b) => {
          results.set(item, outputs[b].turns.at(-1)!);
          if (outputs[b].contextFull) this.#reportFull(item);
        });
      }
    }
    return batch.map((item) => results.get(item) ?? SILENT_OUTPUT);
  }

  #reportFull(item: StepItem): void {
    const { session, sessionId } = item;
    if (session.contextFullReported || this.#sessions.get(sessionId) !== session) return;
    session.contextFullReported = true;
    this.#onEvent(sessionId, {
      kind: "context_full",
      window: this.#model.geometry.window,
      positions: this.#slots.position(session.slot),
    });
  }
}

/** The output of a micro-turn whose session closed before its step. */
const SILENT_OUTPUT: TurnOutput = {
  audio: new Float32Array(SAMPLES_PER_MICRO_TURN),
  textByte: 0,
  control: "silent",
};

/** dMel codes of silence, for micro-turns that carry only text (a prefill). */
const PREFILL_DMEL = new Uint8Array(1600);

/** A stable 32-bit hash of a string (FNV-1a). */
function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
