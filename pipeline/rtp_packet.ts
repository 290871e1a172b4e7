/**
 * RTP fixed header (RFC 3550 §5.1) parse and serialize. Only what the media path needs:
 * CSRCs and header extensions are skipped over on parse and never written, padding is
 * stripped.
 *
 * @module
 */

/** Size of the RTP fixed header without CSRCs or extension. */
export const RTP_HEADER_BYTES = 12;

/** A parsed RTP packet. `payload` is a view into the bytes it was parsed from. */
export interface RtpPacket {
  /** 7-bit payload type. */
  payloadType: number;
  /** 16-bit sequence number, wraps. */
  sequenceNumber: number;
  /** 32-bit media timestamp in the payload's clock (48 kHz for Opus). */
  timestamp: number;
  /** 32-bit synchronization source. */
  ssrc: number;
  /** Marker bit: for audio, the first packet after silence. */
  marker: boolean;
  /** The codec payload. */
  payload: Uint8Array;
}

/** Raised for bytes that are not a well-formed RTP version-2 packet. */
export class MalformedRtpPacketError extends Error {
  /** @param reason what was wrong with the bytes */
  constructor(reason: string) {
    super(`malformed RTP packet: ${reason}`);
    this.name = "MalformedRtpPacketError";
  }
}

/** True when the first byte carries RTP version 2 (top two bits `10`). */
export function looksLikeRtp(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] >> 6 === 2;
}

/** Parses one RTP packet; throws {@linkcode MalformedRtpPacketError} on bad bytes. */
export function parseRtpPacket(bytes: Uint8Array): RtpPacket {
  if (bytes.length < RTP_HEADER_BYTES) {
    throw new MalformedRtpPacketError(`${bytes.length} bytes is shorter than the 12-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const b0 = bytes[0];
  const version = b0 >> 6;
  if (version !== 2) throw new MalformedRtpPacketError(`version ${version}, expected 2`);
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let offset = RTP_HEADER_BYTES + 4 * csrcCount;
  if (hasExtension) {
    if (bytes.length < offset + 4) throw new MalformedRtpPacketError("truncated header extension");
    const extensionWords = view.getUint16(offset + 2);
    offset += 4 + 4 * extensionWords;
  }
  let end = bytes.length;
  if (hasPadding) {
    const padding = bytes[bytes.length - 1];
    if (padding === 0) throw new MalformedRtpPacketError("padding bit set with zero padding");
    end -= padding;
  }
  if (offset > end) throw new MalformedRtpPacketError("header longer than the packet");
  return {
    payloadType: bytes[1] & 0x7f,
    marker: (bytes[1] & 0x80) !== 0,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: bytes.subarray(offset, end),
  };
}

/** Serializes an RTP packet with a 12-byte header (no CSRCs, extension or padding). */
export function serializeRtpPacket(packet: RtpPacket): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(RTP_HEADER_BYTES + packet.payload.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x80;
  bytes[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  view.setUint16(2, packet.sequenceNumber & 0xffff);
  view.setUint32(4, packet.timestamp >>> 0);
  view.setUint32(8, packet.ssrc >>> 0);
  bytes.set(packet.payload, RTP_HEADER_BYTES);
  return bytes;
}
