/**
 * The adaptive jitter buffer and micro-turn clock of one session, as plain logic driven by
 * explicit arrival times and `poll(nowMs)`, so tests replay arrival traces deterministically.
 *
 * Media time comes from RTP timestamps: frame `f` covers [20f, 20f + 20) ms and micro-turn
 * `k` holds frames 10k..10k+9. Micro-turn k closes at the earlier of
 * - the moment its audio is complete: every sequence number up to a packet at or past its
 *   last frame has arrived (what never came was never sent), and
 * - its deadline: base + 200(k + 1) + target, where base and target come from the
 *   {@linkcode ArrivalDelayEstimator} (fastest recent packet; high quantile of arrival delay).
 *
 * Frames missing at close are filled: concealed (PLC, or FEC from the next packet) while the
 * run of missing audio is at most `maxConcealMs`, marked missing beyond it; a micro-turn with
 * nothing but missing frames is an explicit input-missing micro-turn, so a stalled session
 * keeps its sense of time. A frame that arrives after its micro-turn closed is not dropped:
 * it is delivered with the next micro-turn to close, flagged late with its own media time, at
 * most `maxLateFramesPerTurn` per micro-turn, and only within `lateHorizonMs` (older ones are
 * counted as expired), so catching up after a burst never queues without bound. Duplicates
 * (including a client's replay after a reconnect) are recognised by media slot and dropped.
 *
 * Payloads of frames held to be released on time are copied into a ring of slots the buffer
 * owns (one a frame, for the next 1.28 s of media), so the socket message each came in dies
 * young: held for up to a micro-turn, thousands a second of them outlived V8's young
 * generation at 100 sessions, and freeing their buffers was most of every full collection's
 * pause. A released slot's payload is a view of that ring: consume it before the next insert.
 *
 * Before the first packet, and for a client that never sends audio, micro-turns are clocked
 * from `startMs`. The first packet, and a sender restart (new SSRC, or a timestamp jump beyond
 * `restartJumpMs`), are anchored at the next open frame, and deadlines re-reference to them.
 *
 * @module
 */
import type { RtpPacket } from "./rtp_packet.ts";
import {
  ArrivalDelayEstimator,
  type ArrivalDelayOptions,
  type ArrivalDelayStats,
} from "./arrival_delay_estimator.ts";
import {
  AUDIO_FRAME_MS,
  FRAMES_PER_MICRO_TURN,
  MICRO_TURN_MS,
  RTP_TICKS_PER_FRAME,
} from "../protocol/media_format.ts";

/** Tuning of {@linkcode JitterBuffer}; every field has a default. */
export interface JitterBufferOptions extends ArrivalDelayOptions {
  /** Longest run of missing audio filled by concealment; beyond it, missing. Default 100. */
  maxConcealMs?: number;
  /** Late frames delivered with one micro-turn at most. Default 50 (1 s of audio). */
  maxLateFramesPerTurn?: number;
  /** Late frames older than this (media time behind the open micro-turn) expire. Default 10 s. */
  lateHorizonMs?: number;
  /** A timestamp jump beyond this either way is a sender restart, ms. Default 60 s. */
  restartJumpMs?: number;
  /** Frames ahead of the open micro-turn that are held; further ones are refused. Default 60 s. */
  maxAheadMs?: number;
  /** Index of the first micro-turn (a resumed session continues its numbering). Default 0. */
  firstTurn?: number;
}

/** Frames ahead of the open frame whose payloads the buffer copies into its ring. */
const PAYLOAD_RING_FRAMES = 64;
/** Room for one payload in the ring: 20 ms of Opus up to 128 kbit/s (longer ones are kept as they came). */
const PAYLOAD_RING_SLOT_BYTES = 320;

/** One on-time 20 ms slot of a closed micro-turn. */
export interface ReleasedSlot {
  /** Media frame index. */
  frame: number;
  /** Opus payload, or null for a gap (a view the buffer reuses: read it before the next insert). */
  payload: Uint8Array | null;
  /** For a gap: concealed or missing. */
  fill?: "conceal" | "missing";
  /** For a concealed gap: the next frame's payload, whose in-band FEC may recover it. */
  nextPayload?: Uint8Array;
}

/** A frame delivered after its own micro-turn closed. */
export interface LateFrame {
  /** Media frame index (its original timestamp). */
  frame: number;
  /** Opus payload. */
  payload: Uint8Array;
}

/** A micro-turn the buffer closed. */
export interface ClosedTurn {
  /** Micro-turn index. */
  index: number;
  /** Wall time it closed, ms. */
  closedAtMs: number;
  /** How long after its audio's fastest possible arrival it closed, ms. */
  addedDelayMs: number;
  /** Closed because its audio was complete, not at its deadline. */
  complete: boolean;
  /** Its ten slots, in order. */
  slots: ReleasedSlot[];
  /** Late frames delivered with it, in media order. */
  late: LateFrame[];
}

/** What happened to an inserted packet. */
export type InsertOutcome = "held" | "late" | "duplicate" | "expired" | "too_far_ahead";

/** Per-session jitter buffer counters. */
export interface JitterStats extends ArrivalDelayStats {
  /** Added delay of the last closed micro-turn, ms. */
  currentDelayMs: number;
  /** Packets accepted (held or late). */
  received: number;
  /** Frames delivered late. */
  lateFrames: number;
  /** Slots filled by concealment. */
  concealedFrames: number;
  /** Slots marked missing. */
  missingFrames: number;
  /** Duplicates discarded. */
  duplicates: number;
  /** Late frames past the horizon, discarded. */
  expired: number;
  /** Packets too far ahead of the open micro-turn, discarded. */
  tooFarAhead: number;
  /** Sender restarts. */
  restarts: number;
  /** Micro-turns closed. */
  closedTurns: number;
}

/** What became of a closed frame (0: nothing known, outside the horizon). */
const enum Closed {
  Delivered = 1,
  Filled = 2,
}

/** The adaptive jitter buffer; see the module doc. */
export class JitterBuffer {
  readonly #estimator: ArrivalDelayEstimator;
  readonly #maxConcealFrames: number;
  readonly #maxLatePerTurn: number;
  readonly #horizonFrames: number;
  readonly #restartJumpTicks: number;
  readonly #maxAheadFrames: number;
  /** Held packets of frames not yet closed. */
  readonly #pending = new Map<number, Uint8Array>();
  /** Copies of held payloads, frame `f` at slot `f % PAYLOAD_RING_FRAMES` (see the module doc). */
  readonly #payloadRing = new Uint8Array(PAYLOAD_RING_FRAMES * PAYLOAD_RING_SLOT_BYTES);
  /**
   * State of closed frames within the horizon: a ring indexed by frame, valid from
   * `#closedFrom` to the open frame. (A Map here was re-hashed as frames came and went, and its
   * tables, kilobytes a session, outlived the young generation: GC work at every session.)
   */
  readonly #closed: Uint8Array;
  /** The first closed frame still within the horizon. */
  #closedFrom: number;
  /** Late frames waiting for the next close. */
  #late: LateFrame[] = [];
  #nextTurn = 0;
  #lastSeenMs: number;
  /** Frames missing in a row; no audio yet counts as a long run (nothing to conceal from). */
  #missingRun = Infinity;
  #ssrc: number | undefined;
  /** Extended timestamp of the anchor packet, and the frame it maps to. */
  #anchorTicks = 0;
  #anchorFrame = 0;
  /** The micro-turn open when the anchor was set. */
  #anchorTurn = -1;
  #lastTicks = 0;
  /** Sequence tracking: extended numbers received beyond the contiguous point. */
  #lastSeq = 0;
  #contiguousSeq = 0;
  #contiguousFrame = -1;
  readonly #seqFrames = new Map<number, number>();
  readonly #stats = {
    currentDelayMs: 0,
    received: 0,
    lateFrames: 0,
    concealedFrames: 0,
    missingFrames: 0,
    duplicates: 0,
    expired: 0,
    tooFarAhead: 0,
    restarts: 0,
    closedTurns: 0,
  };

  /**
   * @param startMs wall time at which the first micro-turn opens, until audio says otherwise
   * @param options tuning
   */
  constructor(readonly startMs: number, options: JitterBufferOptions = {}) {
    const firstTurn = options.firstTurn ?? 0;
    // The first micro-turn closes 200 ms (plus the target delay) after `startMs`.
    this.#estimator = new ArrivalDelayEstimator(startMs - firstTurn * MICRO_TURN_MS, options);
    this.#nextTurn = firstTurn;
    this.#lastSeenMs = startMs;
    this.#maxConcealFrames = Math.floor((options.maxConcealMs ?? 100) / AUDIO_FRAME_MS);
    this.#maxLatePerTurn = options.maxLateFramesPerTurn ?? 50;
    this.#horizonFrames = Math.ceil((options.lateHorizonMs ?? 10_000) / AUDIO_FRAME_MS);
    this.#closed = new Uint8Array(this.#horizonFrames + FRAMES_PER_MICRO_TURN);
    this.#closedFrom = firstTurn * FRAMES_PER_MICRO_TURN;
    this.#restartJumpTicks = ((options.restartJumpMs ?? 60_000) / AUDIO_FRAME_MS) *
      RTP_TICKS_PER_FRAME;
    this.#maxAheadFrames = Math.ceil((options.maxAheadMs ?? 60_000) / AUDIO_FRAME_MS);
  }

  /** Counters and the current target delay. */
  get stats(): JitterStats {
    return { ...this.#estimator.stats, ...this.#stats };
  }

  /** Latest wall time the buffer was told of (an arrival or a poll), ms. */
  get lastSeenMs(): number {
    return this.#lastSeenMs;
  }

  /** Index of the next micro-turn to close. */
  get nextTurn(): number {
    return this.#nextTurn;
  }

  /**
   * 16-bit sequence number up to which every packet was received or given up on: the client
   * may discard those and replays the rest after a reconnect. Undefined before any packet.
   */
  get acknowledgedSequence(): number | undefined {
    return this.#ssrc === undefined ? undefined : this.#contiguousSeq & 0xffff;
  }

  /** Wall time at which the next micro-turn closes unless its audio completes first. */
  nextDeadlineMs(): number {
    return this.#estimator.baseMs + (this.#nextTurn + 1) * MICRO_TURN_MS +
      this.#estimator.targetDelayMs;
  }

  /** Takes one packet that arrived at `arrivalMs`. */
  insert(packet: RtpPacket, arrivalMs: number): InsertOutcome {
    this.#lastSeenMs = Math.max(this.#lastSeenMs, arrivalMs);
    const openFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN;
    const restart = this.#ssrc !== undefined && (packet.ssrc !== this.#ssrc ||
      Math.abs(this.#extendTicks(packet.timestamp) - this.#lastTicks) > this.#restartJumpTicks);
    if (this.#ssrc === undefined || restart) this.#anchor(packet, arrivalMs, restart);
    const ticks = this.#extendTicks(packet.timestamp);
    this.#lastTicks = Math.max(this.#lastTicks, ticks);
    const frame = this.#anchorFrame + Math.round((ticks - this.#anchorTicks) / RTP_TICKS_PER_FRAME);
    const seq = this.#extendSeq(packet.sequenceNumber);

    if (frame < openFrame && this.#canSlideAnchor(openFrame - frame)) {
      this.#slideAnchor(openFrame - frame, seq);
      return this.insert(packet, arrivalMs);
    }
    if (frame >= openFrame + this.#maxAheadFrames) {
      this.#stats.tooFarAhead++;
      return "too_far_ahead";
    }
    if (frame >= openFrame) {
      if (this.#pending.has(frame)) return this.#duplicate();
      this.#hold(frame, openFrame, packet.payload);
    } else {
      const state = frame >= this.#closedFrom ? this.#closed[this.#closedSlot(frame)] : 0;
      if (state === Closed.Delivered) return this.#duplicate();
      if (state === 0) {
        this.#stats.expired++;
        return "expired";
      }
      this.#closed[this.#closedSlot(frame)] = Closed.Delivered;
      this.#late.push({ frame, payload: packet.payload });
    }
    this.#stats.received++;
    this.#estimator.observe((frame + 1) * AUDIO_FRAME_MS, arrivalMs);
    this.#markSequence(seq, frame);
    return frame >= openFrame ? "held" : "late";
  }

  /** Closes every micro-turn that is complete or past its deadline at `nowMs`. */
  poll(nowMs: number): ClosedTurn[] {
    this.#lastSeenMs = Math.max(this.#lastSeenMs, nowMs);
    const closed: ClosedTurn[] = [];
    for (;;) {
      const lastFrame = (this.#nextTurn + 1) * FRAMES_PER_MICRO_TURN - 1;
      const complete = this.#contiguousFrame >= lastFrame;
      if (!complete && nowMs < this.nextDeadlineMs()) break;
      closed.push(this.#close(nowMs, complete));
    }
    return closed;
  }

  /** Closes every micro-turn up to the last one holding audio (the session is ending). */
  flush(nowMs: number): ClosedTurn[] {
    const closed: ClosedTurn[] = [];
    const last = Math.max(-1, ...this.#pending.keys());
    while (this.#nextTurn * FRAMES_PER_MICRO_TURN <= last || this.#late.length > 0) {
      closed.push(this.#close(nowMs, true));
    }
    return closed;
  }

  /**
   * Holds `payload` for `frame` until it closes: a copy in the ring when it fits there. Every
   * held frame in the ring lies within PAYLOAD_RING_FRAMES of the open frame, so no two share
   * a slot, and a slot is reused only once its frame has closed and been released.
   */
  #hold(frame: number, openFrame: number, payload: Uint8Array): void {
    if (frame - openFrame >= PAYLOAD_RING_FRAMES || payload.length > PAYLOAD_RING_SLOT_BYTES) {
      this.#pending.set(frame, payload);
      return;
    }
    const at = (frame % PAYLOAD_RING_FRAMES) * PAYLOAD_RING_SLOT_BYTES;
    this.#payloadRing.set(payload, at);
    this.#pending.set(frame, this.#payloadRing.subarray(at, at + payload.length));
  }

  #close(nowMs: number, complete: boolean): ClosedTurn {
    const index = this.#nextTurn++;
    const first = index * FRAMES_PER_MICRO_TURN;
    const slots: ReleasedSlot[] = [];
    for (let frame = first; frame < first + FRAMES_PER_MICRO_TURN; frame++) {
      const payload = this.#pending.get(frame);
      if (payload) {
        this.#pending.delete(frame);
        this.#closed[this.#closedSlot(frame)] = Closed.Delivered;
        this.#missingRun = 0;
        slots.push({ frame, payload });
        continue;
      }
      this.#closed[this.#closedSlot(frame)] = Closed.Filled;
      this.#missingRun++;
      if (this.#missingRun <= this.#maxConcealFrames) {
        const slot: ReleasedSlot = { frame, payload: null, fill: "conceal" };
        const next = this.#pending.get(frame + 1);
        if (next) slot.nextPayload = next;
        slots.push(slot);
        this.#stats.concealedFrames++;
      } else {
        slots.push({ frame, payload: null, fill: "missing" });
        this.#stats.missingFrames++;
      }
    }
    const horizon = first + FRAMES_PER_MICRO_TURN - this.#horizonFrames;
    this.#closedFrom = Math.max(this.#closedFrom, horizon);
    const fresh = this.#late.filter((late) => late.frame >= horizon);
    this.#stats.expired += this.#late.length - fresh.length;
    fresh.sort((a, b) => a.frame - b.frame);
    const late = fresh.slice(0, this.#maxLatePerTurn);
    this.#late = fresh.slice(this.#maxLatePerTurn);
    this.#stats.lateFrames += late.length;

    const idealMs = this.#estimator.baseMs + (index + 1) * MICRO_TURN_MS;
    const addedDelayMs = Math.max(0, nowMs - idealMs);
    this.#stats.currentDelayMs = addedDelayMs;
    this.#stats.closedTurns++;
    this.#resolveGaps(first + FRAMES_PER_MICRO_TURN - 1);
    return { index, closedAtMs: nowMs, addedDelayMs, complete, slots, late };
  }

  /** Where closed `frame`'s state is in the ring. */
  #closedSlot(frame: number): number {
    const size = this.#closed.length;
    return ((frame % size) + size) % size;
  }

  #duplicate(): InsertOutcome {
    this.#stats.duplicates++;
    return "duplicate";
  }

  /**
   * Maps `packet` to the next open frame (first packet, or a sender restart) and takes its
   * arrival as the new reference for deadlines.
   */
  #anchor(packet: RtpPacket, arrivalMs: number, restart: boolean): void {
    const openFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN;
    const frame = Math.max(openFrame - 1, ...this.#pending.keys()) + 1;
    this.#ssrc = packet.ssrc;
    this.#anchorTicks = packet.timestamp;
    this.#lastTicks = packet.timestamp;
    this.#anchorFrame = frame;
    this.#anchorTurn = this.#nextTurn;
    this.#lastSeq = packet.sequenceNumber;
    this.#contiguousSeq = packet.sequenceNumber - 1;
    this.#contiguousFrame = frame - 1;
    this.#seqFrames.clear();
    this.#estimator.rebase(arrivalMs - (frame + 1) * AUDIO_FRAME_MS);
    if (restart) this.#stats.restarts++;
  }

  /**
   * Whether a packet `frames` before the open frame can move the anchor back instead of being
   * late: only while the anchor's micro-turn is still open, and by at most one micro-turn
   * (packets reordered at the very start of a stream).
   */
  #canSlideAnchor(frames: number): boolean {
    return this.#nextTurn === this.#anchorTurn && frames <= FRAMES_PER_MICRO_TURN;
  }

  /** Moves every frame assigned since the anchor `frames` later, for a packet numbered `seq`. */
  #slideAnchor(frames: number, seq: number): void {
    // Copied out first: a frame's ring slot changes with its number.
    const held = [...this.#pending].map(([frame, payload]) => [frame, payload.slice()] as const);
    this.#pending.clear();
    const openFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN;
    for (const [frame, payload] of held) this.#hold(frame + frames, openFrame, payload);
    for (const [seq, frame] of this.#seqFrames) this.#seqFrames.set(seq, frame + frames);
    this.#anchorFrame += frames;
    if (seq <= this.#contiguousSeq) {
      this.#contiguousSeq = seq - 1;
      this.#contiguousFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN - 1;
    } else {
      this.#contiguousFrame += frames;
    }
    this.#estimator.rebase(this.#estimator.baseMs - frames * AUDIO_FRAME_MS);
  }

  #extendTicks(timestamp: number): number {
    const delta = (timestamp - this.#lastTicks) | 0;
    return this.#lastTicks + delta;
  }

  #extendSeq(sequenceNumber: number): number {
    const delta = ((sequenceNumber - this.#lastSeq + 0x8000) & 0xffff) - 0x8000;
    const seq = this.#lastSeq + delta;
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    return seq;
  }

  #markSequence(seq: number, frame: number): void {
    if (seq <= this.#contiguousSeq) return;
    if (seq === this.#contiguousSeq + 1) {
      // In order, the usual case: no map entry to add and remove (each re-hash is garbage).
      this.#contiguousSeq = seq;
      this.#contiguousFrame = Math.max(this.#contiguousFrame, frame);
    } else {
      this.#seqFrames.set(seq, frame);
    }
    this.#advanceContiguous();
  }

  #advanceContiguous(): void {
    while (this.#seqFrames.has(this.#contiguousSeq + 1)) {
      this.#contiguousSeq++;
      const frame = this.#seqFrames.get(this.#contiguousSeq)!;
      this.#contiguousFrame = Math.max(this.#contiguousFrame, frame);
      this.#seqFrames.delete(this.#contiguousSeq);
    }
  }

  /** After a deadline close, sequence gaps before packets of closed frames are given up. */
  #resolveGaps(closedThroughFrame: number): void {
    const waiting = [...this.#seqFrames.entries()].sort((a, b) => a[0] - b[0]);
    for (const [seq, frame] of waiting) {
      if (frame > closedThroughFrame) break;
      if (seq <= this.#contiguousSeq) continue;
      this.#contiguousSeq = seq - 1;
      this.#advanceContiguous();
    }
  }
}
