/**
 * Paces a session's output onto the client socket at the rate the client plays it, instead of
 * in 200 ms bursts: a packet goes when its first 20 ms frame is due, carrying that frame and
 * the ready frames that follow it and `joins` it, up to `maxFramesPerPacket` (the edge sends
 * 100 ms a packet, protocol/media_format.ts: a fifth of the sends, each a system call and a
 * WebSocket frame, for the client's player, which plays a packet's frames in turn). Policies
 * keep output fresh rather than queued without bound:
 * - the pacer holds at most `maxQueuedFrames` (default 25: 500 ms); when output arrives faster
 *   than it plays (a catch-up after a stall), the oldest queued frames are dropped as stale;
 * - when the socket itself backs up (`bufferedAmount` above `maxBufferedBytes`), the packet due
 *   now is dropped rather than piled onto the socket.
 * - a frame not `ready` (its payload, encoded on the worker, has not come) waits while it is not
 *   yet due, then is dropped as late; a packet never waits for one (it ends before it).
 * Counters say what happened. The pacer queues frames as they are given and makes each
 * packet (`render`: the Opus encode, when the edge encodes) only as it sends it, so a dropped
 * frame costs nothing and a micro-turn's frames are encoded a packet at a time rather than all
 * at once.
 *
 * Packets go on the ticks of an {@linkcode EgressClock} shared by every session
 * (pipeline/egress_clock.ts), each at most one tick ahead of its first frame's due time and
 * never behind it; the first frame of output that finds the pacer idle goes at once.
 *
 * @module
 */
import { AUDIO_FRAME_MS } from "../protocol/media_format.ts";
import { type EgressClock, sharedEgressClock } from "./egress_clock.ts";

/** Where a pacer sends, and how backed up that is. */
export interface PacedSink {
  /** Sends one packet. */
  send(packet: Uint8Array<ArrayBuffer>): void;
  /** Bytes queued on the socket and not yet sent. */
  readonly bufferedAmount: number;
}

/** Options of {@linkcode EgressPacer}. */
export interface EgressPacerOptions<Frame> {
  /** The packet of consecutive frames, made as it is sent; undefined when it has none (yet). */
  render: (frames: readonly Frame[]) => Uint8Array<ArrayBuffer> | undefined;
  /** Whether a frame has what its packet needs (default: always): one not ready waits. */
  ready?: (frame: Frame) => boolean;
  /** Whether ready `next` can follow `previous` in one packet (default: never). */
  joins?: (previous: Frame, next: Frame) => boolean;
  /** Most frames in one packet. Default 1. */
  maxFramesPerPacket?: number;
  /** Above this many bytes queued on the socket, the due packet is dropped. */
  maxBufferedBytes: number;
  /** Frames the pacer holds at most. Default 25 (500 ms). */
  maxQueuedFrames?: number;
  /** Told of every drop, for metrics. */
  onDrop?: (frames: number, reason: DropReason) => void;
  /** The clock whose ticks send the frames (default the process's shared one). */
  clock?: EgressClock;
}

/** Why the pacer dropped frames. */
export type DropReason = "stale" | "backpressure" | "late";

/** Egress counters. */
export interface EgressStats {
  /** Frames sent. */
  sentFrames: number;
  /** Packets sent (each one to several frames). */
  sentPackets: number;
  /** Frames dropped because output arrived faster than it plays. */
  droppedStale: number;
  /** Frames dropped because the client's socket was backed up. */
  droppedBackpressure: number;
  /** Frames dropped because their payload had not come from the worker when they were due. */
  droppedLate: number;
  /** Output audio waiting in the pacer, ms. */
  queuedMs: number;
}

/** Sends queued frames in packets, each when its first frame is due; see the module doc. */
export class EgressPacer<Frame> {
  readonly #sink: () => PacedSink | undefined;
  readonly #render: (frames: readonly Frame[]) => Uint8Array<ArrayBuffer> | undefined;
  readonly #ready: (frame: Frame) => boolean;
  readonly #joins: (previous: Frame, next: Frame) => boolean;
  readonly #maxFramesPerPacket: number;
  readonly #maxBufferedBytes: number;
  readonly #maxQueued: number;
  readonly #onDrop: (frames: number, reason: DropReason) => void;
  readonly #clock: EgressClock;
  #queue: Frame[] = [];
  #nextDueMs = -Infinity;
  #stats = {
    sentFrames: 0,
    sentPackets: 0,
    droppedStale: 0,
    droppedBackpressure: 0,
    droppedLate: 0,
  };

  /**
   * @param sink the current socket, or undefined while there is none (frames are then dropped)
   * @param options limits
   */
  constructor(sink: () => PacedSink | undefined, options: EgressPacerOptions<Frame>) {
    this.#sink = sink;
    this.#render = options.render;
    this.#ready = options.ready ?? (() => true);
    this.#joins = options.joins ?? (() => false);
    this.#maxFramesPerPacket = options.maxFramesPerPacket ?? 1;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    this.#maxQueued = options.maxQueuedFrames ?? 25;
    this.#onDrop = options.onDrop ?? (() => {});
    this.#clock = options.clock ?? sharedEgressClock();
  }

  /** Counters. */
  get stats(): EgressStats {
    return { ...this.#stats, queuedMs: this.#queue.length * AUDIO_FRAME_MS };
  }

  /** Queues frames for paced sending, dropping the oldest beyond the bound. */
  push(frames: Frame[]): void {
    const now = this.#clock.now();
    if (this.#queue.length === 0) this.#nextDueMs = Math.max(this.#nextDueMs, now);
    this.#queue.push(...frames);
    const excess = this.#queue.length - this.#maxQueued;
    if (excess > 0) {
      this.#queue.splice(0, excess);
      this.#stats.droppedStale += excess;
      this.#onDrop(excess, "stale");
    }
    // What is due before the clock's next tick goes now; its ticks send the rest.
    if (this.tick(this.#clock.nextTickMs())) this.#clock.add(this);
  }

  /**
   * Sends the packets whose first frames are due before `untilMs`; returns whether frames
   * remain (the clock calls it every tick until they are gone).
   */
  tick(untilMs: number): boolean {
    while (this.#queue.length > 0 && this.#nextDueMs < untilMs) {
      // Early is allowed, not required: a frame whose payload is still coming waits its time.
      if (!this.#ready(this.#queue[0]) && this.#nextDueMs > this.#clock.now()) break;
      const frames = this.#queue.splice(0, this.#packetLength());
      this.#sendPacket(frames);
      this.#nextDueMs += frames.length * AUDIO_FRAME_MS;
    }
    return this.#queue.length > 0;
  }

  /** Sends everything queued now (the session is ending) and stops. */
  flush(): void {
    this.#clock.delete(this);
    while (this.#queue.length > 0) this.#sendPacket(this.#queue.splice(0, this.#packetLength()));
  }

  /** Drops what is queued and stops. */
  close(): void {
    this.#clock.delete(this);
    this.#queue = [];
  }

  /** Frames from the head of the queue that go in its next packet. */
  #packetLength(): number {
    const queue = this.#queue;
    if (!this.#ready(queue[0])) return 1; // dropped as late, alone
    let length = 1;
    while (
      length < this.#maxFramesPerPacket && length < queue.length &&
      this.#ready(queue[length]) && this.#joins(queue[length - 1], queue[length])
    ) length++;
    return length;
  }

  #sendPacket(frames: Frame[]): void {
    const sink = this.#sink();
    if (!sink || sink.bufferedAmount > this.#maxBufferedBytes) {
      this.#stats.droppedBackpressure += frames.length;
      this.#onDrop(frames.length, "backpressure");
      return;
    }
    const packet = this.#render(frames);
    if (!packet) {
      this.#stats.droppedLate += frames.length;
      this.#onDrop(frames.length, "late");
      return;
    }
    sink.send(packet);
    this.#stats.sentFrames += frames.length;
    this.#stats.sentPackets++;
  }
}
