/**
 * A session's micro-turns between its ingress and its worker: each closed micro-turn goes to
 * the worker and waits in flight for its output; an output goes to the client (its `output`
 * message, then its audio through the egress), one the worker lost or failed is a gap the
 * client hears as silence; every micro-turn is recorded in the ledger either way, so its input
 * is logged and acknowledged. A worker that encodes audio sends an output's first frames with
 * it and the rest after (`audio_rest`): those frames are queued for sending as the output
 * arrives and filled as the rest does.
 *
 * @module
 */
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";
import type { EgressFrame } from "../pipeline/egress_packetizer.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import type { OutputMessage } from "../protocol/client_messages.ts";
import { meanDmelLevel } from "../pipeline/dmel.ts";
import type { SessionEgress } from "./session_egress.ts";
import type { SessionWorker } from "./session_worker.ts";
import type { MicroTurnLedger } from "./micro_turn_ledger.ts";
import type { EdgeMetrics } from "./edge_metrics.ts";
import type { Clock } from "../lib/clock.ts";
import { IndexSlots } from "../lib/index_slots.ts";

/** What a session's {@linkcode SessionTurns} works with. */
export interface SessionTurnsOptions {
  /** The session's worker, once placed. */
  worker: () => SessionWorker | undefined;
  /** Whether the session is in a pool (a dropped link moves it rather than ending it). */
  pooled: boolean;
  /** Where micro-turns are recorded. */
  ledger: MicroTurnLedger;
  /** The session's output audio. */
  egress: SessionEgress;
  /** Whether the client is connected (outputs are dropped while it is not). */
  connected: () => boolean;
  /** Sends the client a micro-turn's `output` message. */
  send: (output: OutputMessage) => void;
  /** Whether the client takes linear PCM (its audio is never encoded at the edge). */
  linearPcm: boolean;
  /** Edge metrics. */
  metrics: EdgeMetrics;
  /** The session's clock (round trips are measured on it). */
  clock: Clock;
  /** The model delegated to the background model in the micro-turn about to be recorded. */
  delegated: (microTurn: number) => void;
  /** The session cannot go on. */
  fail: (error: ProtocolError) => void;
}

/** A session's micro-turns in flight to its worker; see the module doc. */
export class SessionTurns {
  readonly #o: SessionTurnsOptions;
  /** Micro-turns sent and not yet answered, by index (slots: lib/index_slots.ts). */
  readonly #inFlight = new IndexSlots<MicroTurn>();
  /** Frames of delivered outputs whose payloads the worker still owes, by micro-turn. */
  readonly #owed = new IndexSlots<EgressFrame[]>();
  #drained: (() => void) | undefined;
  /** Outputs dropped since the client's connection went. */
  droppedWhileDetached = 0;

  /** @param options the session's parts */
  constructor(options: SessionTurnsOptions) {
    this.#o = options;
  }

  /** Micro-turns sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Sends a closed micro-turn to the worker; if it cannot go, a gap (or a lone session ends). */
  forward(turn: MicroTurn): void {
    const worker = this.#o.worker();
    this.#inFlight.set(turn.index, turn);
    if (!worker?.send(turn)) {
      this.#inFlight.take(turn.index);
      // Moving to another worker (or, in a pool, about to: the link dropped): this micro-turn
      // is a gap; its input is logged, acknowledged, and replayed into the rebuilt context. The
      // ones still in flight cannot come back either, and are logged first (in order).
      if (worker?.moving || this.#o.pooled) {
        this.loseInFlight();
        return this.#recordLost(turn);
      }
      this.#o.fail(new ProtocolError("worker_unavailable", "the worker link is down"));
      return;
    }
    this.#o.metrics.microTurns.inc();
  }

  /** The worker's output for a micro-turn in flight: to the client, and recorded. */
  deliver(output: MicroTurnOutput): void {
    const turn = this.#inFlight.take(output.index);
    if (!turn) return;
    const { clock, metrics, egress } = this.#o;
    metrics.roundTrip.observe((clock.now() - turn.wallClockMs) / 1000);
    if (!this.#o.connected()) {
      egress.skip(FRAMES_PER_MICRO_TURN);
      this.droppedWhileDetached++;
    } else {
      if (!output.opus && !this.#o.linearPcm) metrics.outputEncodedAtEdge.inc();
      const frames = egress.frames(output);
      const owed = frames.filter((frame) => frame.owed);
      if (owed.length > 0) this.#owed.set(output.index, owed);
      // A rest that never came (its worker failed) is forgotten a few micro-turns on.
      this.#owed.deleteBelow(output.index - OWED_TURNS);
      this.#o.send({
        type: "output",
        index: output.index,
        control: output.control,
        text: output.text,
        audioFrames: frames.length,
      });
      egress.send(frames);
    }
    if (output.control === "delegate") this.#o.delegated(this.#o.ledger.count + 1);
    this.#record(turn, { control: output.control, text: output.text, stepMs: output.stepMs });
  }

  /**
   * The rest of micro-turn `index`'s audio: the payloads of the frames its output left owed, in
   * order. A frame already due went unsent (the egress counts it late).
   */
  audioRest(index: number, payloads: Uint8Array[]): void {
    const owed = this.#owed.take(index);
    if (!owed) return;
    owed.forEach((frame, i) => frame.payload = payloads[i]);
    this.#checkDrained();
  }

  /** The worker failed micro-turn `index`: a gap like a lost one (its input is still logged). */
  failed(index: number): void {
    const turn = this.#inFlight.take(index);
    if (turn) this.#recordLost(turn);
    this.#checkDrained();
  }

  /** What the lost worker had in flight never comes back: those micro-turns are a gap. */
  loseInFlight(): void {
    this.#owed.takeAll();
    const lost = this.#inFlight.takeAll();
    for (const turn of lost) this.#recordLost(turn);
    this.#checkDrained();
  }

  /** Resolves once nothing is in flight nor owed, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#drainedNow()) return;
    const drained = new Promise<void>((resolve) => this.#drained = resolve);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([drained, new Promise((resolve) => timer = setTimeout(resolve, timeoutMs))]);
    clearTimeout(timer);
  }

  /**
   * A micro-turn no worker answered: lost with its worker, or closed while the session moved
   * to another. The client hears a gap (its output frames are skipped); its input is logged and
   * acknowledged like any other.
   */
  #recordLost(turn: MicroTurn): void {
    this.#o.egress.skip(FRAMES_PER_MICRO_TURN);
    this.#record(turn, { lost: true });
  }

  /** Logs a micro-turn with what came of it; its input is acknowledged once that is durable. */
  #record(turn: MicroTurn, output: Record<string, unknown>): void {
    this.#o.ledger.record(turn, output, meanDmelLevel(turn.dmel));
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drainedNow()) this.#drained?.();
  }

  #drainedNow(): boolean {
    return this.#inFlight.size === 0 && this.#owed.size === 0;
  }
}

/** Micro-turns a delivered output waits for the rest of its audio at most (2 s). */
const OWED_TURNS = 10;
