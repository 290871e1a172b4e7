/**
 * The adaptive jitter buffer and micro-turn clock of one session, as plain logic driven by
 * explicit arrival times and `poll(nowMs)`, so tests replay arrival traces deterministically.
 *
 * Media time comes from RTP timestamps: frame `f` covers [20f, 20f + 20) ms and micro-turn
 * `k` holds frames 10k..10k+9. A packet may carry several 20 ms frames (the SDK sends 100 ms
 * a packet): it is cut into one slot a frame (pipeline/packet_slots.ts), and its arrival
 * counts for the end of its audio. Micro-turn k closes at the earlier of
 * - the moment its audio is complete: every sequence number up to a packet at or past its
 *   last frame has arrived (what never came was never sent), and
 * - its deadline: base + the end of the packet that carries its last frame + target, where
 *   base and target come from the {@linkcode ArrivalDelayEstimator} (fastest recent packet;
 *   high quantile of arrival delay). With 20 ms packets, or longer ones that start on a
 *   micro-turn's boundary as the SDK's do, that end is the micro-turn's: 200(k + 1). A sender
 *   whose packets straddle a boundary is waited for until the packet that completes it can
 *   have come, instead of having the micro-turn's last frames concealed every time.
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
 * Payloads of frames held to be released on time are copied into a ring the buffer owns
 * (pipeline/held_payloads.ts): a released slot's payload is a view of it, to be consumed
 * before the next insert.
 *
 * Before the first packet, and for a client that never sends audio, micro-turns are clocked
 * from `startMs`. The first packet, and a sender restart (new SSRC, or a timestamp jump beyond
 * `restartJumpMs`), are anchored at the next open frame, and deadlines re-reference to them.
 *
 * @module
 */
import type { RtpPacket } from "./rtp_packet.ts";
import { HeldPayloads } from "./held_payloads.ts";
import { PacketSlots } from "./packet_slots.ts";
import { SequenceTracker } from "./sequence_tracker.ts";
import {
  ArrivalDelayEstimator,
  type ArrivalDelayOptions,
  type ArrivalDelayStats,
} from "./arrival_delay_estimator.ts";
import {
  AUDIO_FRAME_MS,
  type AudioCodec,
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
  /** How the packets' payloads are coded, so they can be cut into 20 ms slots. Default Opus. */
  codec?: AudioCodec;
}

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
  /** Frames discarded as duplicates. */
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
  /** Payloads of frames not yet closed. */
  readonly #held = new HeldPayloads();
  /** The packet being inserted, cut into 20 ms slots. */
  readonly #slots: PacketSlots;
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
  readonly #sequence = new SequenceTracker();
  /** The sender's packets: slots in the last one accepted, and where their grid starts (mod). */
  #packetSlots = 1;
  #packetPhase = 0;
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
    this.#slots = new PacketSlots(options.codec);
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
    return this.#ssrc === undefined ? undefined : this.#sequence.contiguous & 0xffff;
  }

  /** Wall time at which the next micro-turn closes unless its audio completes first. */
  nextDeadlineMs(): number {
    return this.#estimator.baseMs + this.#packetEnd(this.#nextTurn) * AUDIO_FRAME_MS +
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
    const first = this.#anchorFrame + Math.round((ticks - this.#anchorTicks) / RTP_TICKS_PER_FRAME);
    const seq = this.#sequence.extend(packet.sequenceNumber);

    if (first < openFrame && this.#canSlideAnchor(openFrame - first)) {
      this.#slideAnchor(openFrame - first, seq);
      return this.insert(packet, arrivalMs);
    }
    if (first >= openFrame + this.#maxAheadFrames) {
      this.#stats.tooFarAhead++;
      return "too_far_ahead";
    }
    const slots = this.#slots.read(packet.payload);
    let accepted = 0;
    let late = 0;
    let duplicates = 0;
    let expired = 0;
    for (let i = 0; i < slots; i++) {
      const frame = first + i;
      if (frame >= openFrame) {
        if (this.#held.has(frame)) {
          duplicates++;
          continue;
        }
        this.#held.hold(frame, openFrame, this.#slots, i);
      } else {
        const state = frame >= this.#closedFrom ? this.#closed[this.#closedSlot(frame)] : 0;
        if (state === Closed.Delivered) duplicates++;
        if (state === 0) expired++;
        if (state !== Closed.Filled) continue;
        this.#closed[this.#closedSlot(frame)] = Closed.Delivered;
        this.#late.push({ frame, payload: this.#slots.own(i) });
        late++;
      }
      accepted++;
    }
    this.#stats.duplicates += duplicates;
    this.#stats.expired += expired;
    if (accepted === 0) return expired > 0 ? "expired" : "duplicate";
    const last = first + slots - 1;
    this.#stats.received++;
    this.#estimator.observe((last + 1) * AUDIO_FRAME_MS, arrivalMs, slots * AUDIO_FRAME_MS);
    this.#sequence.mark(seq, last);
    this.#packetSlots = slots;
    this.#packetPhase = first % slots;
    return late > 0 ? "late" : "held";
  }

  /** Closes every micro-turn that is complete or past its deadline at `nowMs`. */
  poll(nowMs: number): ClosedTurn[] {
    this.#lastSeenMs = Math.max(this.#lastSeenMs, nowMs);
    const closed: ClosedTurn[] = [];
    for (;;) {
      const lastFrame = (this.#nextTurn + 1) * FRAMES_PER_MICRO_TURN - 1;
      const complete = this.#sequence.contiguousFrame >= lastFrame;
      if (!complete && nowMs < this.nextDeadlineMs()) break;
      closed.push(this.#close(nowMs, complete));
    }
    return closed;
  }

  /** Closes every micro-turn up to the last one holding audio (the session is ending). */
  flush(nowMs: number): ClosedTurn[] {
    const closed: ClosedTurn[] = [];
    const last = this.#held.lastFrame();
    while (this.#nextTurn * FRAMES_PER_MICRO_TURN <= last || this.#late.length > 0) {
      closed.push(this.#close(nowMs, true));
    }
    return closed;
  }

  #close(nowMs: number, complete: boolean): ClosedTurn {
    const index = this.#nextTurn++;
    const first = index * FRAMES_PER_MICRO_TURN;
    const slots: ReleasedSlot[] = [];
    for (let frame = first; frame < first + FRAMES_PER_MICRO_TURN; frame++) {
      const payload = this.#held.take(frame);
      if (payload) {
        this.#closed[this.#closedSlot(frame)] = Closed.Delivered;
        this.#missingRun = 0;
        slots.push({ frame, payload });
        continue;
      }
      this.#closed[this.#closedSlot(frame)] = Closed.Filled;
      this.#missingRun++;
      if (this.#missingRun <= this.#maxConcealFrames) {
        const slot: ReleasedSlot = { frame, payload: null, fill: "conceal" };
        const next = this.#held.get(frame + 1);
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
    this.#sequence.giveUpThrough(first + FRAMES_PER_MICRO_TURN - 1);
    return { index, closedAtMs: nowMs, addedDelayMs, complete, slots, late };
  }

  /** Where closed `frame`'s state is in the ring. */
  #closedSlot(frame: number): number {
    const size = this.#closed.length;
    return ((frame % size) + size) % size;
  }

  /**
   * The frame after the end of the sender's packet that carries micro-turn `turn`'s last
   * frame, on the grid of its recent packets: the micro-turn's own end unless they straddle it.
   */
  #packetEnd(turn: number): number {
    const end = (turn + 1) * FRAMES_PER_MICRO_TURN;
    const over = (((end - this.#packetPhase) % this.#packetSlots) + this.#packetSlots) %
      this.#packetSlots;
    return over === 0 ? end : end + this.#packetSlots - over;
  }

  /**
   * Maps `packet` to the next open frame (first packet, or a sender restart) and takes its
   * arrival as the new reference for deadlines.
   */
  #anchor(packet: RtpPacket, arrivalMs: number, restart: boolean): void {
    const openFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN;
    const frame = Math.max(openFrame - 1, this.#held.lastFrame()) + 1;
    this.#ssrc = packet.ssrc;
    this.#anchorTicks = packet.timestamp;
    this.#lastTicks = packet.timestamp;
    this.#anchorFrame = frame;
    this.#anchorTurn = this.#nextTurn;
    this.#sequence.restart(packet.sequenceNumber, frame);
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
    const openFrame = this.#nextTurn * FRAMES_PER_MICRO_TURN;
    this.#held.shift(frames, openFrame);
    this.#sequence.shift(frames, seq, openFrame);
    this.#anchorFrame += frames;
    this.#estimator.rebase(this.#estimator.baseMs - frames * AUDIO_FRAME_MS);
  }

  #extendTicks(timestamp: number): number {
    const delta = (timestamp - this.#lastTicks) | 0;
    return this.#lastTicks + delta;
  }
}
