/**
 * Which RTP sequence numbers of one sender have come: the contiguous point (every number up to
 * it came or was given up on) and the last media frame that point reaches. The jitter buffer
 * closes a micro-turn as soon as that frame passes its end (what never came was never sent),
 * and acknowledges the contiguous point so the client can forget what it would replay.
 *
 * @module
 */

/** Sequence numbers received from one sender; see the module doc. */
export class SequenceTracker {
  /** Extended numbers received beyond the contiguous point, with their packets' last frames. */
  readonly #beyond = new Map<number, number>();
  #last = 0;
  #contiguous = 0;
  #contiguousFrame = -1;

  /** The extended sequence number up to which every packet came or was given up on. */
  get contiguous(): number {
    return this.#contiguous;
  }

  /** The last frame of the packets up to the contiguous point. */
  get contiguousFrame(): number {
    return this.#contiguousFrame;
  }

  /** Starts over at a sender's first packet, numbered `sequenceNumber`, holding `frame` first. */
  restart(sequenceNumber: number, frame: number): void {
    this.#last = sequenceNumber;
    this.#contiguous = sequenceNumber - 1;
    this.#contiguousFrame = frame - 1;
    this.#beyond.clear();
  }

  /** The extended number of the 16-bit `sequenceNumber`, the nearest to the newest seen. */
  extend(sequenceNumber: number): number {
    const delta = ((sequenceNumber - this.#last + 0x8000) & 0xffff) - 0x8000;
    const seq = this.#last + delta;
    this.#last = Math.max(this.#last, seq);
    return seq;
  }

  /** Marks packet `seq`, whose audio ends with `lastFrame`, received. */
  mark(seq: number, lastFrame: number): void {
    if (seq <= this.#contiguous) return;
    if (seq === this.#contiguous + 1) {
      // In order, the usual case: no map entry to add and remove (each re-hash is garbage).
      this.#contiguous = seq;
      this.#contiguousFrame = Math.max(this.#contiguousFrame, lastFrame);
    } else {
      this.#beyond.set(seq, lastFrame);
    }
    this.#advance();
  }

  /** Gives up the gaps before packets whose audio ended by `closedThroughFrame` (closed). */
  giveUpThrough(closedThroughFrame: number): void {
    const waiting = [...this.#beyond.entries()].sort((a, b) => a[0] - b[0]);
    for (const [seq, frame] of waiting) {
      if (frame > closedThroughFrame) break;
      if (seq <= this.#contiguous) continue;
      this.#contiguous = seq - 1;
      this.#advance();
    }
  }

  /**
   * Moves every packet's frames `frames` later (the anchor slid back for packet `seq`); when
   * `seq` is before the contiguous point, the point goes back to it, reaching `openFrame - 1`.
   */
  shift(frames: number, seq: number, openFrame: number): void {
    for (const [beyond, frame] of this.#beyond) this.#beyond.set(beyond, frame + frames);
    if (seq <= this.#contiguous) {
      this.#contiguous = seq - 1;
      this.#contiguousFrame = openFrame - 1;
    } else {
      this.#contiguousFrame += frames;
    }
  }

  #advance(): void {
    while (this.#beyond.has(this.#contiguous + 1)) {
      this.#contiguous++;
      const frame = this.#beyond.get(this.#contiguous)!;
      this.#contiguousFrame = Math.max(this.#contiguousFrame, frame);
      this.#beyond.delete(this.#contiguous);
    }
  }
}
