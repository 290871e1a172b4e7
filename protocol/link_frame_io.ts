/**
 * The bytes of worker-link frames: the header every frame starts with, and a writer and a
 * reader of big-endian fields that refuse to run past a frame's end. protocol/worker_link.ts
 * lays out each frame type with them, protocol/link_batch.ts the batch that carries several.
 *
 * @module
 */
import { readUuid, writeUuid } from "../lib/uuid_bytes.ts";

/** Version byte of the link's layout. A peer refuses frames of another version. */
export const WORKER_LINK_VERSION = 1;

/** `u8 version | u8 type | 16 bytes session id | u32 micro-turn index`, before every body. */
export const HEADER_BYTES = 22;

/** Session id of frames that concern the link itself, not a session. */
export const LINK_SESSION_ID = "00000000-0000-0000-0000-000000000000";

/** Raised for link bytes that do not decode. */
export class MalformedLinkFrameError extends Error {
  /** @param reason what was wrong */
  constructor(reason: string) {
    super(`malformed worker-link frame: ${reason}`);
    this.name = "MalformedLinkFrameError";
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Writes one frame: its header, then the fields of its body in order. */
export class FrameWriter {
  #bytes: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #offset = HEADER_BYTES;

  /**
   * @param typeCode the frame's type byte
   * @param sessionId the session it concerns (the all-zero id for the link itself)
   * @param index the header's micro-turn index (or count)
   * @param bodyBytes the exact size of the body that follows the header
   */
  constructor(typeCode: number, sessionId: string, index: number, bodyBytes: number) {
    this.#bytes = new Uint8Array(HEADER_BYTES + bodyBytes);
    this.#view = new DataView(this.#bytes.buffer);
    this.#bytes[0] = WORKER_LINK_VERSION;
    this.#bytes[1] = typeCode;
    writeUuid(sessionId, this.#bytes, 2);
    this.#view.setUint32(18, index);
  }
  u8(value: number): this {
    this.#view.setUint8(this.#offset, value);
    this.#offset += 1;
    return this;
  }
  u16(value: number): this {
    this.#view.setUint16(this.#offset, value);
    this.#offset += 2;
    return this;
  }
  i16(value: number): this {
    this.#view.setInt16(this.#offset, value);
    this.#offset += 2;
    return this;
  }
  u32(value: number): this {
    this.#view.setUint32(this.#offset, value);
    this.#offset += 4;
    return this;
  }
  f32(value: number): this {
    this.#view.setFloat32(this.#offset, value);
    this.#offset += 4;
    return this;
  }
  f64(value: number): this {
    this.#view.setFloat64(this.#offset, value);
    this.#offset += 8;
    return this;
  }
  bytes(value: Uint8Array): this {
    this.#bytes.set(value, this.#offset);
    this.#offset += value.length;
    return this;
  }
  done(): Uint8Array<ArrayBuffer> {
    return this.#bytes;
  }
}

/** Reads one frame's fields in order; past its end, {@linkcode MalformedLinkFrameError}. */
export class FrameReader {
  #bytes: Uint8Array;
  #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #take(length: number): number {
    if (this.#offset + length > this.#bytes.length) {
      throw new MalformedLinkFrameError(
        `needs ${length} bytes at offset ${this.#offset} of ${this.#bytes.length}`,
      );
    }
    const at = this.#offset;
    this.#offset += length;
    return at;
  }
  remaining(): number {
    return this.#bytes.length - this.#offset;
  }
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }
  i16(): number {
    return this.#view.getInt16(this.#take(2));
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }
  f32(): number {
    return this.#view.getFloat32(this.#take(4));
  }
  f64(): number {
    return this.#view.getFloat64(this.#take(8));
  }
  bytes(length: number): Uint8Array {
    const at = this.#take(length);
    return this.#bytes.slice(at, at + length);
  }
  /**
   * The next `length` bytes as a view of the frame, not a copy: for an output's Opus payloads,
   * which leave with the frame's own buffer (one buffer an output, not one a payload, for the
   * collector to sweep once they outlive the young generation in the edge's send queue).
   */
  view(length: number): Uint8Array {
    const at = this.#take(length);
    return this.#bytes.subarray(at, at + length);
  }
  /** The next 16 bytes as UUID text. */
  uuid(): string {
    return readUuid(this.#bytes, this.#take(16));
  }
  text(length: number): string {
    try {
      return decoder.decode(this.view(length));
    } catch (error) {
      if (error instanceof MalformedLinkFrameError) throw error;
      throw new MalformedLinkFrameError("text is not UTF-8");
    }
  }
}
