/**
 * The client's binary camera-frame message (protocol v1):
 * `u8 type (0x01) | u32 capture time, ms of the client's media clock (big-endian) | JPEG`.
 * RTP packets always start with a byte whose top bit is set, so the first byte tells the two
 * apart.
 *
 * @module
 */
import { VIDEO_MESSAGE_TYPE } from "./media_format.ts";

/** Raised for a video message that does not parse. */
export class MalformedVideoMessageError extends Error {
  /** @param reason what was wrong */
  constructor(reason: string) {
    super(`malformed video message: ${reason}`);
    this.name = "MalformedVideoMessageError";
  }
}

/** A parsed camera frame. */
export interface VideoMessage {
  /** Capture time, ms of the client's media clock (wraps at 2^32). */
  timestampMs: number;
  /** JPEG bytes (a view into the message). */
  jpeg: Uint8Array;
}

const HEADER_BYTES = 5;

/** Whether a binary message is a video message. */
export function isVideoMessage(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && bytes[0] === VIDEO_MESSAGE_TYPE;
}

/** Parses a video message; throws {@linkcode MalformedVideoMessageError}. */
export function parseVideoMessage(bytes: Uint8Array): VideoMessage {
  if (bytes.byteLength < HEADER_BYTES + 2) {
    throw new MalformedVideoMessageError(`${bytes.byteLength} bytes is too short`);
  }
  if (bytes[0] !== VIDEO_MESSAGE_TYPE) {
    throw new MalformedVideoMessageError(`type byte ${bytes[0]}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jpeg = bytes.subarray(HEADER_BYTES);
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
    throw new MalformedVideoMessageError("payload is not a JPEG (no SOI marker)");
  }
  return { timestampMs: view.getUint32(1), jpeg };
}

/** Builds a video message. */
export function serializeVideoMessage(message: VideoMessage): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(HEADER_BYTES + message.jpeg.byteLength);
  bytes[0] = VIDEO_MESSAGE_TYPE;
  new DataView(bytes.buffer).setUint32(1, message.timestampMs >>> 0);
  bytes.set(message.jpeg, HEADER_BYTES);
  return bytes;
}
