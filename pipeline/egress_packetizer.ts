/**
 * Egress: a micro-turn's output audio (200 ms of 16 kHz PCM) becomes ten 20 ms Opus frames
 * in RTP packets with continuous sequence numbers and 48 kHz timestamps (RFC 7587); for an
 * adapter that wants PCM (`l16`), the frames' samples themselves.
 *
 * @module
 */
import { OpusEncoder } from "./opus_codec.ts";
import { serializeRtpPacket } from "./rtp_packet.ts";
import { l16Bytes } from "./l16_samples.ts";
import {
  type AudioCodec,
  L16_PAYLOAD_TYPE,
  OPUS_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

/** Packetizes one session's output audio. */
export class EgressPacketizer {
  readonly #encoder: OpusEncoder | undefined;
  readonly #payloadType: number;
  #sequenceNumber: number;
  #timestamp: number;
  #first = true;
  /** This stream's synchronization source. */
  readonly ssrc: number;

  /**
   * @param random source of the random initial sequence, timestamp and SSRC (RFC 3550 §5.1)
   * @param codec Opus (default), or linear PCM for an in-process adapter
   */
  constructor(random: () => number = Math.random, codec: AudioCodec = "opus") {
    this.#encoder = codec === "opus" ? new OpusEncoder() : undefined;
    this.#payloadType = codec === "opus" ? OPUS_PAYLOAD_TYPE : L16_PAYLOAD_TYPE;
    this.ssrc = Math.floor(random() * 2 ** 32) >>> 0;
    this.#sequenceNumber = Math.floor(random() * 65536);
    this.#timestamp = Math.floor(random() * 2 ** 32) >>> 0;
  }

  /** Encodes whole 20 ms frames of `pcm` into RTP packets. */
  packetize(pcm: Int16Array): Uint8Array<ArrayBuffer>[] {
    const packets: Uint8Array<ArrayBuffer>[] = [];
    for (let start = 0; start + SAMPLES_PER_FRAME <= pcm.length; start += SAMPLES_PER_FRAME) {
      const frame = pcm.subarray(start, start + SAMPLES_PER_FRAME);
      packets.push(this.#packet(this.#encoder ? this.#encoder.encode(frame) : l16Bytes(frame)));
    }
    return packets;
  }

  /** Advances the media clock over `frames` frames that were not sent (dropped output). */
  skip(frames: number): void {
    this.#timestamp = (this.#timestamp + frames * RTP_TICKS_PER_FRAME) >>> 0;
  }

  /** Frees the encoder. */
  close(): void {
    this.#encoder?.close();
  }

  #packet(payload: Uint8Array): Uint8Array<ArrayBuffer> {
    const packet = serializeRtpPacket({
      payloadType: this.#payloadType,
      marker: this.#first,
      sequenceNumber: this.#sequenceNumber,
      timestamp: this.#timestamp,
      ssrc: this.ssrc,
      payload,
    });
    this.#first = false;
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + RTP_TICKS_PER_FRAME) >>> 0;
    return packet;
  }
}
