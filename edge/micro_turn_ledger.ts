/**
 * A session's record of its micro-turns: each closed micro-turn is logged with what came of it
 * (the worker's output, or that it was lost), and the input it covered is acknowledged to the
 * client only once that log entry is durable, so a crash never loses anything acknowledged.
 *
 * @module
 */
import type { MicroTurn } from "../protocol/worker_link.ts";
import { MICRO_TURN_MS } from "../protocol/media_format.ts";
import type { EventLog } from "../store/event_log.ts";
import type { Clock } from "../lib/clock.ts";
import { IndexSlots } from "../lib/index_slots.ts";

/** What a {@linkcode MicroTurnLedger} needs. */
export interface MicroTurnLedgerOptions {
  /** Session id. */
  sessionId: string;
  /** Where micro-turns are logged. */
  eventLog: EventLog;
  /** Wall clock of the log entries. */
  clock: Clock;
  /** Sends the client an acknowledgement of input up to `sequence`. */
  acknowledge(sequence: number): void;
}

/** Logs a session's micro-turns and acknowledges their input once durable. */
export class MicroTurnLedger {
  readonly #o: MicroTurnLedgerOptions;
  /** Input sequence each closed, unrecorded micro-turn covers. */
  readonly #covers = new IndexSlots<number>();
  /**
   * Recorded micro-turns' log positions and the input sequences they cover, oldest first from
   * `#pendingFrom`, waiting for their entries to be durable.
   */
  readonly #pendingSeqs: number[] = [];
  readonly #pendingSequences: number[] = [];
  #pendingFrom = 0;
  #sent: number | undefined;
  #count = 0;

  /** @param options the session, its log, and how to acknowledge */
  constructor(options: MicroTurnLedgerOptions) {
    this.#o = options;
    options.eventLog.onDurable(options.sessionId, (seq) => this.#durable(seq));
  }

  /** Micro-turns recorded. */
  get count(): number {
    return this.#count;
  }

  /** Notes that micro-turn `index`, just closed, covers input up to `sequence`. */
  covers(index: number, sequence: number | undefined): void {
    if (sequence !== undefined) this.#covers.set(index, sequence);
  }

  /** A new connection saw no acknowledgement yet: the next one is sent even if repeated. */
  newConnection(): void {
    this.#sent = undefined;
  }

  /** Logs `turn` with `output` and acknowledges its input once the entry is durable. */
  record(turn: MicroTurn, output: Record<string, unknown>, level: number): void {
    const { sessionId, eventLog, clock } = this.#o;
    this.#count++;
    const seq = eventLog.append(sessionId, {
      kind: "micro_turn",
      microTurn: turn.index,
      mediaTimeMs: turn.index * MICRO_TURN_MS,
      wallTime: new Date(clock.now()),
      payload: { input: { flags: turn.flags, text: turn.text, level }, output },
    });
    const sequence = this.#covers.take(turn.index);
    if (sequence === undefined) return;
    this.#pendingSeqs.push(seq);
    this.#pendingSequences.push(sequence);
  }

  /** The log is durable up to `seq`: acknowledges the input of the newest entry it covers. */
  #durable(seq: number): void {
    const seqs = this.#pendingSeqs;
    let newest: number | undefined;
    let from = this.#pendingFrom;
    for (; from < seqs.length && seqs[from] <= seq; from++) newest = this.#pendingSequences[from];
    // Entries recorded while a write was in flight stay pending: the arrays are trimmed, not
    // only emptied.
    if (from === seqs.length || from >= 64) {
      seqs.splice(0, from);
      this.#pendingSequences.splice(0, from);
      from = 0;
    }
    this.#pendingFrom = from;
    if (newest === undefined || newest === this.#sent) return;
    this.#sent = newest;
    this.#o.acknowledge(newest);
  }
}
