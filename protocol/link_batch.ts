/**
 * Batches on the worker link: one WebSocket message carrying several frames. A worker steps
 * every session it holds at once, so a step's outputs (and the encoder threads' audio for them)
 * are ready for an edge together; sent as one message they cost the worker one send and the edge
 * one read, not one each (a frame a session and a micro-turn, ~7.5 a session-second with their
 * audio rests): bench/link_batch_bench.ts, 256 sessions, 0.54x the CPU of both ends and of the
 * time from the step to the last output decoded. A batch is a frame of its own type: the common
 * header (the all-zero session id, the frame count in the index field), then each frame as a u32
 * byte count and its bytes.
 *
 * A peer sends batches only to an edge that asked for them (`?batches=1` on the link's URL): an
 * edge of an older release reads every message as one frame.
 *
 * @module
 */
import {
  FrameReader,
  FrameWriter,
  HEADER_BYTES,
  LINK_SESSION_ID,
  MalformedLinkFrameError,
  WORKER_LINK_VERSION,
} from "./link_frame_io.ts";

/** Type code of a batch frame. */
const LINK_BATCH_CODE = 12;

/** The query parameter with which an edge asks its worker for batches. */
export const LINK_BATCHES_PARAMETER = "batches";

/** Bytes a batch carries at most; a frame that would pass it starts the next batch. */
export const MAX_LINK_BATCH_BYTES = 1 << 20;

/** One message carrying `frames` (each an encoded frame), in order. */
export function encodeLinkBatch(frames: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bodyBytes = frames.reduce((sum, frame) => sum + 4 + frame.length, 0);
  const writer = new FrameWriter(LINK_BATCH_CODE, LINK_SESSION_ID, frames.length, bodyBytes);
  for (const frame of frames) writer.u32(frame.length).bytes(frame);
  return writer.done();
}

/**
 * The frames a link message carries: the message itself when it is one frame, else the frames
 * of its batch (views of `message`, in order). Throws {@linkcode MalformedLinkFrameError} for a
 * batch whose counts do not add up; each frame is left to `decodeLinkFrame` (which refuses a
 * batch inside a batch as an unknown type).
 */
export function linkFramesIn(message: Uint8Array): Uint8Array[] {
  if (message.length < HEADER_BYTES || message[1] !== LINK_BATCH_CODE) return [message];
  if (message[0] !== WORKER_LINK_VERSION) {
    throw new MalformedLinkFrameError(`version ${message[0]}, expected ${WORKER_LINK_VERSION}`);
  }
  const reader = new FrameReader(message.subarray(HEADER_BYTES - 4));
  const count = reader.u32();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) frames.push(reader.view(reader.u32()));
  if (reader.remaining() !== 0) {
    throw new MalformedLinkFrameError(`${reader.remaining()} bytes after a batch's frames`);
  }
  return frames;
}

/**
 * Sends frames in batches: the frames pushed in one turn of the event loop leave together when
 * it ends (`setImmediate`), one alone as itself. Frames keep their order.
 */
export class LinkFrameBatcher {
  readonly #send: (message: Uint8Array<ArrayBuffer>) => void;
  #frames: Uint8Array<ArrayBuffer>[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #flushScheduled = () => {
    this.#scheduled = false;
    this.flush();
  };

  /** @param send sends one message on the link */
  constructor(send: (message: Uint8Array<ArrayBuffer>) => void) {
    this.#send = send;
  }

  /** Queues an encoded frame for the batch this turn of the event loop sends. */
  push(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#bytes + 4 + frame.length > MAX_LINK_BATCH_BYTES) this.flush();
    this.#frames.push(frame);
    this.#bytes += 4 + frame.length;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushScheduled);
  }

  /** Sends what is queued now. */
  flush(): void {
    const frames = this.#frames;
    if (frames.length === 0) return;
    this.#frames = [];
    this.#bytes = 0;
    this.#send(frames.length === 1 ? frames[0] : encodeLinkBatch(frames));
  }
}
