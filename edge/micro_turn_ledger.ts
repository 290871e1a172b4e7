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
  readonly #covers = new Map<number, number>();
  #sent: number | undefined;
  #count = 0;

  /** @param options the session, its log, and how to acknowledge */
  constructor(options: MicroTurnLedgerOptions) {
    this.#o = options;
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
    const sequence = this.#covers.get(turn.index);
    this.#covers.delete(turn.index);
    if (sequence === undefined) return;
    eventLog.whenDurable(sessionId, seq).then(() => {
      if (sequence === this.#sent) return;
      this.#sent = sequence;
      this.#o.acknowledge(sequence);
    });
  }
}
