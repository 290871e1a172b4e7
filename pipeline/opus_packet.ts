/**
 * Opus packet framing (RFC 6716 §3.2): how many frames a packet holds, how long each is, where
 * each one's data lies; one frame cut out as a packet of its own, and packets of one
 * configuration joined into one. Nothing here decodes: the frames' bytes are moved, not read.
 *
 * A packet may carry up to 120 ms of audio (RFC 7587's `ptime`/`maxptime`): the SDK sends
 * 100 ms a packet, five 20 ms frames, so the edge takes a fifth of the messages (each costs a
 * socket read, a WebSocket event and a pipeline write) for the same audio, and a mobile uplink
 * carries a fifth of the headers; the jitter buffer cuts such packets back into 20 ms slots.
 *
 * @module
 */

/** Raised for bytes that break RFC 6716 §3.2's rules for an Opus packet. */
export class MalformedOpusPacketError extends Error {
  /** @param reason which rule the packet broke */
  constructor(reason: string) {
    super(`malformed Opus packet: ${reason}`);
    this.name = "MalformedOpusPacketError";
  }
}

/** Raised when packets cannot be joined into one (configurations differ, or too long). */
export class OpusJoinError extends Error {
  /** @param reason why not */
  constructor(reason: string) {
    super(`cannot join Opus packets: ${reason}`);
    this.name = "OpusJoinError";
  }
}

/** Longest frame's data (R2). */
const MAX_FRAME_BYTES = 1275;
/** Most frames in one packet: 120 ms of 2.5 ms frames (R5). */
const MAX_FRAMES = 48;
/** Longest packet, in 48 kHz ticks: 120 ms (R5). */
const MAX_PACKET_TICKS = 5760;

/** 48 kHz ticks of one frame by the TOC's configuration number (RFC 6716 Table 2). */
const FRAME_TICKS_BY_CONFIG = [
  // SILK-only: 10, 20, 40, 60 ms, for narrow-, medium- and wideband.
  ...[0, 1, 2].flatMap(() => [480, 960, 1920, 2880]),
  // Hybrid: 10, 20 ms, super-wide- and fullband.
  480,
  960,
  480,
  960,
  // CELT-only: 2.5, 5, 10, 20 ms, for narrow-, wide-, super-wide- and fullband.
  ...[0, 1, 2, 3].flatMap(() => [120, 240, 480, 960]),
];

/** 48 kHz ticks of each frame of a packet whose first (TOC) byte is `toc`. */
export function opusFrameTicks(toc: number): number {
  return FRAME_TICKS_BY_CONFIG[toc >> 3];
}

/**
 * Whether two packets' frames share a configuration (mode, bandwidth, frame duration) and
 * channel count, so they can go in one packet.
 */
export function sameOpusConfiguration(a: Uint8Array, b: Uint8Array): boolean {
  return a.length > 0 && b.length > 0 && (a[0] & 0xfc) === (b[0] & 0xfc);
}

/**
 * Whether `packet` carries no audio data: one or two empty frames (RFC 6716 §3.2: a TOC byte
 * alone), what an encoder sends for silence in discontinuous transmission (DTX), and the
 * SDK for microphone frames under the silence floor (pipeline/silence_floor.ts).
 */
export function isEmptyOpusPacket(packet: Uint8Array): boolean {
  return packet.length === 1 && (packet[0] & 3) <= 1;
}

/**
 * An empty frame (a TOC byte alone) of `packet`'s configuration (mode, bandwidth, frame
 * duration), so it joins with its neighbours into one packet.
 */
export function emptyOpusFrameLike(packet: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.of(packet[0] & 0xfc);
}

/**
 * The frames of one Opus packet, read by {@linkcode read}. One instance is reused packet after
 * packet: reading allocates nothing.
 */
export class OpusFrames {
  /** Start and end of each frame's data in the packet last read. */
  readonly #bounds = new Int32Array(2 * MAX_FRAMES);
  #packet: Uint8Array = new Uint8Array(0);
  #count = 0;

  /** The packet last read. */
  get packet(): Uint8Array {
    return this.#packet;
  }

  /** Frames in the packet last read. */
  get count(): number {
    return this.#count;
  }

  /** 48 kHz ticks of each of its frames. */
  get frameTicks(): number {
    return opusFrameTicks(this.#packet[0]);
  }

  /**
   * Reads `packet`'s framing; throws {@linkcode MalformedOpusPacketError} where it breaks
   * RFC 6716 §3.2 (R1-R7). `packet` is kept (not copied) until the next read.
   */
  read(packet: Uint8Array): this {
    const length = packet.length;
    if (length === 0) throw new MalformedOpusPacketError("empty (R1)");
    const bounds = this.#bounds;
    const code = packet[0] & 3;
    let count: number;
    if (code === 0) {
      count = 1;
      bounds[0] = 1;
      bounds[1] = length;
    } else if (code === 1) {
      if ((length - 1) % 2 !== 0) throw new MalformedOpusPacketError("code 1 of odd length (R3)");
      count = 2;
      const half = (length - 1) / 2;
      bounds[0] = 1;
      bounds[1] = bounds[2] = 1 + half;
      bounds[3] = length;
    } else if (code === 2) {
      count = 2;
      const first = readLength(packet, 1, length);
      const at = first < 252 ? 2 : 3;
      if (at + first > length) throw new MalformedOpusPacketError("code 2 frame overruns (R4)");
      bounds[0] = at;
      bounds[1] = bounds[2] = at + first;
      bounds[3] = length;
    } else {
      count = this.#readCode3(packet);
    }
    if (count * opusFrameTicks(packet[0]) > MAX_PACKET_TICKS) {
      throw new MalformedOpusPacketError("longer than 120 ms (R5)");
    }
    for (let i = 0; i < count; i++) {
      if (bounds[2 * i + 1] - bounds[2 * i] > MAX_FRAME_BYTES) {
        throw new MalformedOpusPacketError(`frame over ${MAX_FRAME_BYTES} bytes (R2)`);
      }
    }
    this.#packet = packet;
    this.#count = count;
    return this;
  }

  /** Bytes of frame `i` as a packet of its own (its TOC byte and data). */
  frameLength(i: number): number {
    return 1 + this.#bounds[2 * i + 1] - this.#bounds[2 * i];
  }

  /**
   * Writes frame `i` of the packet last read as a one-frame (code 0) packet into `target` at
   * `at`; returns its length. Decoding the frames so cut, in order, gives the packet's audio.
   */
  writeFrame(i: number, target: Uint8Array, at: number): number {
    target[at] = this.#packet[0] & 0xfc;
    return 1 + this.writeFrameData(i, target, at + 1);
  }

  /** Writes frame `i`'s data (no TOC byte) into `target` at `at`; returns its length. */
  writeFrameData(i: number, target: Uint8Array, at: number): number {
    const start = this.#bounds[2 * i];
    const end = this.#bounds[2 * i + 1];
    target.set(this.#packet.subarray(start, end), at);
    return end - start;
  }

  /** Code 3: a frame count byte, optional padding, then CBR or VBR frames. */
  #readCode3(packet: Uint8Array): number {
    const length = packet.length;
    const bounds = this.#bounds;
    if (length < 2) throw new MalformedOpusPacketError("code 3 without a frame count (R6)");
    const count = packet[1] & 0x3f;
    const vbr = (packet[1] & 0x80) !== 0;
    if (count === 0) throw new MalformedOpusPacketError("code 3 with no frames (R5)");
    let at = 2;
    let padding = 0;
    if (packet[1] & 0x40) {
      let more = true;
      while (more) {
        if (at >= length) throw new MalformedOpusPacketError("padding length overruns (R6)");
        const byte = packet[at++];
        more = byte === 255;
        padding += more ? 254 : byte;
      }
    }
    const end = length - padding;
    if (end < at) throw new MalformedOpusPacketError("padding overruns (R6)");
    if (vbr) {
      let data = 0;
      const lengths = bounds; // frame lengths first, turned into bounds below
      for (let i = 0; i < count - 1; i++) {
        const frame = readLength(packet, at, end);
        at += frame < 252 ? 1 : 2;
        lengths[2 * i + 1] = frame;
        data += frame;
      }
      if (at + data > end) throw new MalformedOpusPacketError("code 3 frames overrun (R7)");
      let start = at;
      for (let i = 0; i < count - 1; i++) {
        const frame = lengths[2 * i + 1];
        bounds[2 * i] = start;
        bounds[2 * i + 1] = start += frame;
      }
      bounds[2 * count - 2] = start;
      bounds[2 * count - 1] = end;
    } else {
      if (end < at || (end - at) % count !== 0) {
        throw new MalformedOpusPacketError("code 3 CBR frames of unequal length (R6)");
      }
      const frame = (end - at) / count;
      for (let i = 0; i < count; i++) {
        bounds[2 * i] = at;
        bounds[2 * i + 1] = at += frame;
      }
    }
    return count;
  }
}

/** Reads a frame length (one byte under 252, else two) at `at`, before `end`. */
function readLength(packet: Uint8Array, at: number, end: number): number {
  if (at >= end) throw new MalformedOpusPacketError("frame length overruns");
  const first = packet[at];
  if (first < 252) return first;
  if (at + 1 >= end) throw new MalformedOpusPacketError("frame length overruns");
  return first + 4 * packet[at + 1];
}

/** Reads the parts of a join (a join runs to its end synchronously: one reader serves all). */
const joinReader = new OpusFrames();

/**
 * Joins packets of one configuration into one packet of all their frames, in order (a code 3
 * packet with VBR lengths; one frame alone is a code 0 packet). Throws {@linkcode OpusJoinError}
 * when their configurations differ or the result would pass 120 ms, and
 * {@linkcode MalformedOpusPacketError} for a malformed part.
 */
export function joinOpusPackets(packets: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (packets.length === 0) throw new OpusJoinError("no packets");
  const toc = packets[0][0] & 0xfc;
  const reader = joinReader;
  let frames = 0;
  let data = 0;
  let lengths = 0;
  let lastLength = 0;
  for (const packet of packets) {
    if (!sameOpusConfiguration(packet, packets[0])) {
      throw new OpusJoinError("configurations differ");
    }
    reader.read(packet);
    for (let i = 0; i < reader.count; i++) {
      lastLength = reader.frameLength(i) - 1;
      data += lastLength;
      lengths += lastLength < 252 ? 1 : 2;
      frames++;
    }
  }
  if (frames > MAX_FRAMES || frames * opusFrameTicks(toc) > MAX_PACKET_TICKS) {
    throw new OpusJoinError("longer than 120 ms");
  }
  if (frames === 1) {
    const joined = new Uint8Array(1 + data);
    reader.read(packets[0]).writeFrame(0, joined, 0);
    return joined;
  }
  // Every frame's length is written but the last one's, which is what remains.
  lengths -= lastLength < 252 ? 1 : 2;
  const joined = new Uint8Array(2 + lengths + data);
  joined[0] = toc | 3;
  joined[1] = 0x80 | frames;
  let lengthAt = 2;
  let dataAt = 2 + lengths;
  let written = 0;
  for (const packet of packets) {
    reader.read(packet);
    for (let i = 0; i < reader.count; i++) {
      const length = reader.writeFrameData(i, joined, dataAt);
      dataAt += length;
      if (++written === frames) break; // the last frame: no length
      if (length < 252) {
        joined[lengthAt++] = length;
      } else {
        const low = 252 + (length & 3);
        joined[lengthAt++] = low;
        joined[lengthAt++] = (length - low) >> 2;
      }
    }
  }
  return joined;
}
