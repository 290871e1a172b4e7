/**
 * The worker's session runtime: sessions open into preallocated state slots, each micro-turn
 * is batched with other sessions' into one model step, and the output (audio, text, control)
 * goes back. State stays resident between micro-turns; nothing re-runs earlier context.
 *
 * @module
 */
import { type Counter, type Gauge, type Histogram, type Registry } from "prom-client";
import promClient from "prom-client";
import type { InteractionModel, ModelStepInput, ModelStepOutput } from "./interaction_model.ts";
import { MicroTurnBatcher } from "./micro_turn_batcher.ts";
import { SessionSlots } from "./session_slots.ts";
import { TEXT_BYTES_PER_MICRO_TURN } from "./model/model_contract.ts";
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
}

interface StepItem {
  sessionId: string;
  input: ModelStepInput;
}

/** Options for {@linkcode WorkerRuntime}. */
export interface WorkerRuntimeOptions {
  /** Sessions this worker holds at most. Default 256. */
  capacity?: number;
  /** Micro-turns in one model step at most. Default 64. */
  maxBatch?: number;
  /** Registry the runtime's metrics register in. */
  registry: Registry;
}

/** Holds sessions and runs their micro-turns through the model. */
export class WorkerRuntime {
  readonly #model: InteractionModel;
  readonly #slots: SessionSlots;
  readonly #sessions = new Map<string, WorkerSession>();
  readonly #batcher: MicroTurnBatcher<StepItem, ModelStepOutput>;
  readonly #stepSeconds: Histogram;
  readonly #batchSize: Histogram;
  readonly #microTurns: Counter;
  readonly #sessionGauge: Gauge;

  /**
   * @param model the loaded interaction model
   * @param options capacity, batching and metrics
   */
  constructor(model: InteractionModel, options: WorkerRuntimeOptions) {
    this.#model = model;
    this.#slots = new SessionSlots(options.capacity ?? 256, model.stateWidth);
    const registers = [options.registry];
    this.#stepSeconds = new promClient.Histogram({
      name: "worker_step_seconds",
      help: "Time of one batched model step",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5],
      registers,
    });
    this.#batchSize = new promClient.Histogram({
      name: "worker_step_batch_size",
      help: "Micro-turns in one model step",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.#microTurns = new promClient.Counter({
      name: "worker_micro_turns_total",
      help: "Micro-turns the worker ran",
      registers,
    });
    this.#sessionGauge = new promClient.Gauge({
      name: "worker_sessions",
      help: "Sessions open on this worker",
      registers,
    });
    this.#batcher = new MicroTurnBatcher((batch) => this.#model.step(batch.map((i) => i.input)), {
      maxBatch: options.maxBatch,
      onStep: (size, ms) => {
        this.#stepSeconds.observe(ms / 1000);
        this.#batchSize.observe(size);
      },
    });
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Model name, for the session-opened reply. */
  get modelName(): string {
    return this.#model.name;
  }

  /**
   * Opens a session into a free slot.
   * @param startedAtMs when the session began (wall clock), the origin of its elapsed time
   */
  open(sessionId: string, startedAtMs: number): void {
    if (this.#sessions.has(sessionId)) throw new SessionAlreadyOpenError(sessionId);
    const slot = this.#slots.acquire();
    this.#sessions.set(sessionId, {
      slot,
      startedAtMs,
      pendingText: new Uint8Array(0),
      textDecoder: new TextDecoder(),
    });
    this.#sessionGauge.set(this.#sessions.size);
  }

  /** Runs one micro-turn of an open session, batched with whatever else is ready. */
  async run(turn: MicroTurn): Promise<MicroTurnOutput> {
    const session = this.#sessions.get(turn.sessionId);
    if (!session) throw new UnknownWorkerSessionError(turn.sessionId);
    // Text longer than one micro-turn's share waits for the next ones.
    const text = concat(session.pendingText, new TextEncoder().encode(turn.text));
    session.pendingText = text.slice(TEXT_BYTES_PER_MICRO_TURN);
    const started = performance.now();
    const output = await this.#batcher.submit({
      sessionId: turn.sessionId,
      input: {
        dmel: turn.dmel,
        text: text.subarray(0, TEXT_BYTES_PER_MICRO_TURN),
        elapsedSeconds: Math.max(0, (turn.wallClockMs - session.startedAtMs) / 1000),
        state: this.#slots.state(session.slot),
      },
    });
    this.#microTurns.inc();
    // The session may have closed while its step ran; its slot is then someone else's.
    if (this.#sessions.get(turn.sessionId) === session) {
      this.#slots.state(session.slot).set(output.state);
    }
    const audio = new Int16Array(output.audio.length);
    for (let i = 0; i < audio.length; i++) {
      audio[i] = Math.round(Math.max(-1, Math.min(1, output.audio[i])) * 32767);
    }
    return {
      sessionId: turn.sessionId,
      index: turn.index,
      control: output.control,
      stepMs: performance.now() - started,
      audio,
      text: output.textByte === 0
        ? ""
        : session.textDecoder.decode(Uint8Array.of(output.textByte), { stream: true }),
    };
  }

  /** Closes a session and returns its slot; unknown ids are ignored (close is idempotent). */
  close(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (!session) return;
    this.#sessions.delete(sessionId);
    this.#slots.release(session.slot);
    this.#sessionGauge.set(this.#sessions.size);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
