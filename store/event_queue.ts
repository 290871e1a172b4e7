/**
 * The event log's queue, kept off V8's heap: each appended event is written at once as its
 * row of the insert's JSON document (UTF-8, one byte arena) with its few numbers in typed
 * arrays, so the queue holds no JavaScript objects while its events wait up to a flush
 * interval for their write. An edge appends five events a second a session; as objects they
 * were most of what outlived V8's young generation (copied at every scavenge, then promoted and
 * left to the full collections), and scavenge pauses set the edge's tail latency.
 *
 * Events leave from the front in batches ({@linkcode EventQueue.take}); a batch whose write
 * failed goes back to the front ({@linkcode EventQueue.restore}), so nothing is reordered or
 * lost. At most one batch is out at a time.
 *
 * @module
 */
import type { SessionEvent } from "./event_log.ts";

/** A batch taken from the front of the queue for one write. */
export interface EventBatch {
  /** Events in the batch. */
  size: number;
  /** The rows as one JSON array (each row: session_id, seq, micro_turn, ..., payload). */
  document: string;
  /** The sessions in the batch, in the order they first appear. */
  sessions: string[];
  /** Per session: its last event's wall time (ISO 8601). */
  lastActive: string[];
  /** Per session: its last (highest) seq. */
  highestSeq: number[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Postgres's jsonb refuses a NUL character and an unpaired surrogate, which JSON allows and a
 * client may type: they become U+FFFD, or one such event would fail its whole batch, every
 * retry, and every event queued behind it.
 */
function rowText(row: Record<string, unknown>): string {
  const text = JSON.stringify(row);
  if (!/\\u(0000|d[89a-f])/i.test(text)) return text;
  return JSON.stringify(
    row,
    (_key, value) =>
      typeof value === "string" ? value.toWellFormed().replaceAll("\0", "\ufffd") : value,
  );
}

/** Queued events, oldest first, as bytes and numbers; see the module doc. */
export class EventQueue {
  /**
   * Each event's row after a comma, back to back, and room for one byte more: a batch's rows
   * read as one JSON array once its first comma is read as `[` and the byte after it as `]`.
   */
  #bytes = new Uint8Array(64 * 1024);
  /** Per event: where its row starts in `#bytes`. */
  #starts = new Int32Array(256);
  #seqs = new Float64Array(256);
  /** The micro-turn of a `micro_turn` event, else NaN. */
  #turns = new Float64Array(256);
  #wallTimes = new Float64Array(256);
  /** Per event: its session's id (references to strings the sessions hold anyway). */
  #sessions: string[] = new Array(256);
  /** Events before this one are gone (or out in the batch being written). */
  #head = 0;
  /** The batch being written starts here (-1: none out). */
  #out = -1;
  /** Events in the arrays; the next goes here. */
  #tail = 0;
  /** Bytes in use; the next row goes here. */
  #byteTail = 0;

  /** Events queued (not counting a batch out for writing). */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Queues `event` as the session's event `seq`. */
  push(sessionId: string, seq: number, event: SessionEvent): void {
    const row = rowText({
      session_id: sessionId,
      seq,
      micro_turn: event.microTurn ?? null,
      media_time_ms: event.mediaTimeMs ?? null,
      wall_time: event.wallTime.toISOString(),
      kind: event.kind,
      payload: event.payload,
    });
    // UTF-8 takes at most three bytes a UTF-16 unit; one more for the comma, one for a `]`.
    this.#reserve(1, 3 * row.length + 2);
    const at = this.#tail++;
    this.#starts[at] = this.#byteTail;
    this.#seqs[at] = seq;
    this.#turns[at] = event.kind === "micro_turn" ? event.microTurn ?? NaN : NaN;
    this.#wallTimes[at] = event.wallTime.getTime();
    this.#sessions[at] = sessionId;
    this.#bytes[this.#byteTail++] = COMMA;
    this.#byteTail += encoder.encodeInto(row, this.#bytes.subarray(this.#byteTail)).written;
  }

  /** How many events of a session are queued, and the newest micro-turn among them (or -1). */
  queuedOf(sessionId: string): { count: number; lastMicroTurn: number } {
    let count = 0;
    let lastMicroTurn = -1;
    for (let i = this.#head; i < this.#tail; i++) {
      if (this.#sessions[i] !== sessionId) continue;
      count++;
      if (this.#turns[i] > lastMicroTurn) lastMicroTurn = this.#turns[i];
    }
    return { count, lastMicroTurn };
  }

  /** Whether any event of the session is queued. */
  has(sessionId: string): boolean {
    for (let i = this.#head; i < this.#tail; i++) if (this.#sessions[i] === sessionId) return true;
    return false;
  }

  /** Drops a session's queued events (not those of a batch out for writing). */
  remove(sessionId: string): void {
    if (this.#head === this.#tail) return;
    let to = this.#head;
    let byteTo = this.#starts[this.#head];
    for (let i = this.#head; i < this.#tail; i++) {
      if (this.#sessions[i] === sessionId) continue;
      const start = this.#starts[i];
      const end = i + 1 < this.#tail ? this.#starts[i + 1] : this.#byteTail;
      this.#bytes.copyWithin(byteTo, start, end);
      this.#move(i, to, byteTo);
      byteTo += end - start;
      to++;
    }
    this.#sessions.fill(undefined as unknown as string, to, this.#tail);
    this.#tail = to;
    this.#byteTail = byteTo;
  }

  /** Takes up to `max` events from the front as a batch; undefined when none is queued. */
  take(max: number): EventBatch | undefined {
    if (this.#out >= 0) throw new Error("a batch is already out for writing");
    const size = Math.min(max, this.length);
    if (size === 0) return undefined;
    const from = this.#head;
    const to = from + size;
    const start = this.#starts[from];
    const end = to < this.#tail ? this.#starts[to] : this.#byteTail;
    // One flat string, decoded as it is sent: no concatenation for the driver to flatten.
    const bytes = this.#bytes;
    const after = bytes[end];
    bytes[start] = OPEN_BRACKET;
    bytes[end] = CLOSE_BRACKET;
    const document = decoder.decode(bytes.subarray(start, end + 1));
    bytes[start] = COMMA;
    bytes[end] = after;
    const sessions: string[] = [];
    const lastEvent: number[] = [];
    const indexOf = new Map<string, number>();
    for (let i = from; i < to; i++) {
      const sessionId = this.#sessions[i];
      const at = indexOf.get(sessionId);
      if (at !== undefined) {
        lastEvent[at] = i;
        continue;
      }
      indexOf.set(sessionId, sessions.length);
      sessions.push(sessionId);
      lastEvent.push(i);
    }
    const lastActive = lastEvent.map((i) => new Date(this.#wallTimes[i]).toISOString());
    const highestSeq = lastEvent.map((i) => this.#seqs[i]);
    this.#out = from;
    this.#head = to;
    return { size, document, sessions, lastActive, highestSeq };
  }

  /** The batch out was written (or can never be): its events are gone. */
  settle(): void {
    if (this.#out < 0) return;
    this.#sessions.fill(undefined as unknown as string, this.#out, this.#head);
    this.#out = -1;
    if (this.#head === this.#tail) this.#head = this.#tail = this.#byteTail = 0;
  }

  /** The batch out failed: its events are queued again, at the front, in order. */
  restore(): void {
    if (this.#out < 0) return;
    this.#head = this.#out;
    this.#out = -1;
  }

  /** Makes room for `events` more events and `bytes` more bytes, compacting or growing. */
  #reserve(events: number, bytes: number): void {
    if (
      this.#tail + events <= this.#starts.length && this.#byteTail + bytes <= this.#bytes.length
    ) {
      return;
    }
    // What must be kept starts at the batch out, if one is.
    const first = this.#out >= 0 ? this.#out : this.#head;
    const live = this.#tail - first;
    const firstByte = first < this.#tail ? this.#starts[first] : this.#byteTail;
    const liveBytes = this.#byteTail - firstByte;
    if (live + events > this.#starts.length / 2) this.#growEvents(2 * (live + events));
    if (liveBytes + bytes > this.#bytes.length / 2) {
      const bytesNow = new Uint8Array(2 * (liveBytes + bytes));
      bytesNow.set(this.#bytes.subarray(firstByte, this.#byteTail));
      this.#bytes = bytesNow;
    } else {
      this.#bytes.copyWithin(0, firstByte, this.#byteTail);
    }
    for (let i = first; i < this.#tail; i++) this.#move(i, i - first, this.#starts[i] - firstByte);
    this.#sessions.fill(undefined as unknown as string, live, this.#tail);
    if (this.#out >= 0) this.#out -= first;
    this.#head -= first;
    this.#tail = live;
    this.#byteTail = liveBytes;
  }

  /** Moves event `from`'s numbers and session to position `to`, its row now at `start`. */
  #move(from: number, to: number, start: number): void {
    this.#starts[to] = start;
    if (from === to) return;
    this.#seqs[to] = this.#seqs[from];
    this.#turns[to] = this.#turns[from];
    this.#wallTimes[to] = this.#wallTimes[from];
    this.#sessions[to] = this.#sessions[from];
  }

  #growEvents(capacity: number): void {
    const grow = <T extends Int32Array | Float64Array>(array: T, make: (n: number) => T) => {
      const next = make(capacity);
      next.set(array as never);
      return next;
    };
    this.#starts = grow(this.#starts, (n) => new Int32Array(n));
    this.#seqs = grow(this.#seqs, (n) => new Float64Array(n));
    this.#turns = grow(this.#turns, (n) => new Float64Array(n));
    this.#wallTimes = grow(this.#wallTimes, (n) => new Float64Array(n));
    this.#sessions.length = capacity;
  }
}
