/**
 * Egress: a micro-turn's output audio (200 ms of 16 kHz PCM) becomes ten 20 ms Opus frames,
 * sent in RTP packets of one or more consecutive frames (RFC 7587: the pacer puts up to 100 ms
 * in one, pipeline/egress_pacer.ts) with continuous sequence numbers and 48 kHz timestamps;
 * for an adapter that wants PCM (`l16`), the frames' samples themselves, a packet each.
 *
 * Silence costs nothing: a micro-turn the model's control head marked silent, and any Opus
 * frame under the floor (pipeline/silence_floor.ts), is not encoded and not sent. The RTP
 * timestamp moves on over it while the sequence number does not, and the first packet after
 * it carries the marker bit (a talkspurt starts, RFC 3551 §4.1), so the client knows the
 * gap is silence, not loss; the SDK's player plays silence when it has nothing.
 *
 * A frame's place in the stream (its RTP timestamp, whether it starts a talkspurt) is fixed when
 * its micro-turn's output arrives ({@linkcode frames}); its packet, with the next sequence
 * number and the frames' Opus payload, is made only when it is sent ({@linkcode packet}): the
 * session's egress pacer encodes a packet's frames as it goes out instead of a micro-turn's
 * ten at once (about 0.9 ms of CPU at complexity 3, which every output message and every other
 * session waited behind), and a frame the pacer drops is never encoded. A packet the pacer
 * drops still takes a sequence number ({@linkcode dropped}), so the gap shows as loss, where
 * the model's silence shows as a talkspurt's start.
 *
 * A worker that encodes output itself (gpu-worker/output_encoder_pool.ts) sends one Opus
 * payload per frame, empty for silence ({@linkcode EgressPacketizer.encodedFrames}); those
 * frames are only framed here. It sends a micro-turn's first frames' payloads first: a frame
 * whose payload is still owed is framed all the same (its place in the stream is fixed) and
 * filled when the rest arrives; one whose payload has not come when it is due is not sent. The
 * encoder is made at the first frame that needs it, so a session whose worker encodes never
 * has one.
 *
 * @module
 */
import { OpusEncoder } from "./opus_codec.ts";
import { joinOpusPackets, sameOpusConfiguration } from "./opus_packet.ts";
import { belowSilenceFloor } from "./silence_floor.ts";
import { serializeRtpPacket } from "./rtp_packet.ts";
import { l16Bytes } from "./l16_samples.ts";
import {
  type AudioCodec,
  L16_PAYLOAD_TYPE,
  OPUS_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../protocol/media_format.ts";

/**
 * One 20 ms output frame: its place in the stream, and its samples (the payload made as it is
 * sent) or its payload (encoded on the worker).
 */
export interface EgressFrame {
  /** The frame's PCM (a view of the micro-turn's output audio), when it has no `payload`. */
  readonly samples?: Int16Array;
  /** The frame's Opus payload, encoded on the worker (set when it arrives, for an owed frame). */
  payload?: Uint8Array;
  /** Its payload comes later from the worker (see {@linkcode EgressPacketizer.encodedFrames}). */
  readonly owed: boolean;
  /** RTP timestamp of its start (48 kHz for Opus). */
  readonly timestamp: number;
  /** The first frame of a talkspurt (its packet carries the marker bit). */
  readonly marker: boolean;
}

/** Packetizes one session's output audio. */
export class EgressPacketizer {
  #encoder: OpusEncoder | undefined;
  readonly #opus: boolean;
  readonly #payloadType: number;
  #sequenceNumber: number;
  #timestamp: number;
  /** The next packet starts a talkspurt (first output, or after silence). */
  #talkspurtStart = true;
  #silentFrames = 0;
  /** This stream's synchronization source. */
  readonly ssrc: number;

  /**
   * @param random source of the random initial sequence, timestamp and SSRC (RFC 3550 §5.1)
   * @param codec Opus (default), or linear PCM for an in-process adapter
   */
  constructor(random: () => number = Math.random, codec: AudioCodec = "opus") {
    this.#opus = codec === "opus";
    this.#payloadType = this.#opus ? OPUS_PAYLOAD_TYPE : L16_PAYLOAD_TYPE;
    this.ssrc = Math.floor(random() * 2 ** 32) >>> 0;
    this.#sequenceNumber = Math.floor(random() * 65536);
    this.#timestamp = Math.floor(random() * 2 ** 32) >>> 0;
  }

  /** Frames not sent because they were silence. */
  get silentFrames(): number {
    return this.#silentFrames;
  }

  /**
   * Turns whole 20 ms frames of `pcm` into RTP packets, one a frame. With Opus, silence is left
   * out: all of it when `silent` (the model chose not to speak), else each frame under the
   * floor. Linear PCM (an adapter's) is passed whole: it costs nothing to send.
   */
  packetize(pcm: Int16Array, silent = false): Uint8Array<ArrayBuffer>[] {
    return this.frames(pcm, silent).map((frame) => this.packet([frame])!);
  }

  /**
   * The frames of `pcm` that will be sent, their places in the stream assigned in order (what
   * {@linkcode packetize} leaves out as silence, this leaves out); {@linkcode packet} makes
   * their packets, in this order.
   */
  frames(pcm: Int16Array, silent = false): EgressFrame[] {
    const frames: EgressFrame[] = [];
    for (let start = 0; start + SAMPLES_PER_FRAME <= pcm.length; start += SAMPLES_PER_FRAME) {
      const samples = pcm.subarray(start, start + SAMPLES_PER_FRAME);
      if (this.#opus && (silent || belowSilenceFloor(samples))) this.#silence();
      else frames.push(this.#frame(samples, undefined, false));
    }
    return frames;
  }

  /**
   * The frames of a micro-turn a worker encoded: one Opus payload per 20 ms frame, an empty one
   * for silence (left out as {@linkcode frames} leaves it out), null for an audible frame whose
   * payload comes later (an `owed` frame: set its `payload` when it arrives).
   */
  encodedFrames(payloads: readonly (Uint8Array | null)[]): EgressFrame[] {
    const frames: EgressFrame[] = [];
    for (const payload of payloads) {
      if (payload === null) frames.push(this.#frame(undefined, undefined, true));
      else if (payload.length === 0) this.#silence();
      else frames.push(this.#frame(undefined, payload, false));
    }
    return frames;
  }

  /**
   * The RTP packet of consecutive frames, each following the one before as {@linkcode joins}
   * says: of {@linkcode frames} (their payload encoded now, Opus), or of
   * {@linkcode encodedFrames} (their payloads as the worker sent them, joined); undefined when
   * one is an owed frame whose payload has not come.
   */
  packet(frames: readonly EgressFrame[]): Uint8Array<ArrayBuffer> | undefined {
    if (!frames.every((frame) => this.ready(frame))) return undefined;
    const first = frames[0];
    const packet = serializeRtpPacket({
      payloadType: this.#payloadType,
      marker: first.marker,
      sequenceNumber: this.#sequenceNumber,
      timestamp: first.timestamp,
      ssrc: this.ssrc,
      payload: this.#payload(frames),
    });
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    return packet;
  }

  /**
   * Whether ready frame `next` can follow `previous` in one Opus packet: it continues it (no
   * silence between), and both are encoded here from one stretch of output audio, or both
   * were encoded on the worker in one configuration.
   */
  joins(previous: EgressFrame, next: EgressFrame): boolean {
    if (!this.#opus || next.marker) return false;
    if (next.timestamp !== ((previous.timestamp + RTP_TICKS_PER_FRAME) >>> 0)) return false;
    if (previous.payload && next.payload) {
      return sameOpusConfiguration(previous.payload, next.payload);
    }
    const [a, b] = [previous.samples, next.samples];
    return a !== undefined && b !== undefined && a.buffer === b.buffer &&
      a.byteOffset + a.byteLength === b.byteOffset;
  }

  /** A packet the pacer did not send: its sequence number is skipped, so the gap shows as loss. */
  dropped(): void {
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
  }

  /** Whether `frame` has what its packet needs (not an owed frame whose payload has not come). */
  ready(frame: EgressFrame): boolean {
    return !frame.owed || frame.payload !== undefined;
  }

  /** The payload of `frames`: one stretch of samples encoded (or passed as PCM), or joined. */
  #payload(frames: readonly EgressFrame[]): Uint8Array {
    const first = frames[0];
    if (first.payload) {
      return frames.length === 1 ? first.payload : joinOpusPackets(frames.map((f) => f.payload!));
    }
    const last = frames[frames.length - 1].samples!;
    const samples = frames.length === 1 ? first.samples! : new Int16Array(
      first.samples!.buffer,
      first.samples!.byteOffset,
      (last.byteOffset + last.byteLength - first.samples!.byteOffset) / 2,
    );
    return this.#opus ? (this.#encoder ??= new OpusEncoder()).encode(samples) : l16Bytes(samples);
  }

  #frame(
    samples: Int16Array | undefined,
    payload: Uint8Array | undefined,
    owed: boolean,
  ): EgressFrame {
    const frame = {
      samples,
      payload,
      owed,
      timestamp: this.#timestamp,
      marker: this.#talkspurtStart,
    };
    this.#talkspurtStart = false;
    this.#timestamp = (this.#timestamp + RTP_TICKS_PER_FRAME) >>> 0;
    return frame;
  }

  #silence(): void {
    this.#silentFrames++;
    this.skip(1);
  }

  /** Advances the media clock over `frames` frames that were not sent (silence, dropped output). */
  skip(frames: number): void {
    this.#timestamp = (this.#timestamp + frames * RTP_TICKS_PER_FRAME) >>> 0;
    this.#talkspurtStart = true;
  }

  /** Frees the encoder; a frame to encode after this is refused (`OpusCodecError`). */
  close(): void {
    this.#encoder?.close();
  }
}
