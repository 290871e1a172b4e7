/**
 * What a client sends, read: binary messages (RTP-framed Opus, camera frames) become ingress
 * frames, JSON control messages become the session's actions. Anything malformed, too big or
 * unknown is reported with the protocol's error code and dropped; the session goes on unless
 * the error is fatal (a message too big ends it).
 *
 * @module
 */
import type { IngressFrame } from "../pipeline/ingress_frames.ts";
import { looksLikeRtp, parseRtpPacket } from "../pipeline/rtp_packet.ts";
import { isVideoMessage, parseVideoMessage } from "../protocol/video_message.ts";
import { ClientControl } from "../protocol/client_messages.ts";
import { type ErrorCode, errorCodeOf } from "../protocol/error_codes.ts";
import { type AudioCodec, L16_PAYLOAD_TYPE, OPUS_PAYLOAD_TYPE } from "../protocol/media_format.ts";
import type { Clock } from "../lib/clock.ts";

/** What the client's messages turn into. */
export interface ClientInputActions {
  /** Feeds the ingress pipeline. */
  write(frame: IngressFrame): void;
  /** Whether the ingress pipeline has room (camera frames are dropped first when it has not). */
  hasRoom(): boolean;
  /** Reports a bad message to the client. */
  report(code: ErrorCode, message: string): void;
  /** A message over the size limit: the session ends. */
  tooBig(size: number): void;
  /** `bye`: the client ends the session. */
  bye(): void;
  /** `ping`: answered with `pong` carrying `t`. */
  ping(t: number): void;
  /** `delegate`: a request for the background model. */
  delegate(request: string, options: { urgent: boolean; tool?: string }): void;
  /** `cancel_task`: cancels a background task. */
  cancelTask(id: string): void;
  /** `text`: the user typed `text` (at media time `timestampMs`, when given). */
  typed(text: string, timestampMs: number | undefined): void;
}

/** Reads one client's messages. */
export class ClientInput {
  readonly #actions: ClientInputActions;
  readonly #maxMessageBytes: number;
  readonly #clock: Clock;
  readonly #payloadType: number;
  #videoDropped = 0;

  /**
   * @param actions what the messages turn into
   * @param maxMessageBytes the largest message accepted
   * @param clock arrival times of RTP packets
   * @param codec how the audio packets are coded (their payload type)
   */
  constructor(
    actions: ClientInputActions,
    maxMessageBytes: number,
    clock: Clock,
    codec: AudioCodec = "opus",
  ) {
    this.#actions = actions;
    this.#payloadType = codec === "opus" ? OPUS_PAYLOAD_TYPE : L16_PAYLOAD_TYPE;
    this.#maxMessageBytes = maxMessageBytes;
    this.#clock = clock;
  }

  /** Camera frames dropped because the ingress pipeline was backed up. */
  get videoDropped(): number {
    return this.#videoDropped;
  }

  /** Handles one binary message: an RTP packet or a camera frame. */
  binary(bytes: Uint8Array): void {
    const actions = this.#actions;
    if (bytes.byteLength > this.#maxMessageBytes) return actions.tooBig(bytes.byteLength);
    if (isVideoMessage(bytes)) return this.#video(bytes);
    if (!looksLikeRtp(bytes)) {
      return actions.report(
        "unknown_message_type",
        `binary message type byte ${bytes[0]} is unknown`,
      );
    }
    try {
      const packet = parseRtpPacket(bytes);
      if (packet.payloadType !== this.#payloadType) {
        return actions.report(
          "unsupported_payload_type",
          `payload type ${packet.payloadType}, expected ${this.#payloadType}`,
        );
      }
      // The jitter buffer holds the payload for up to the late horizon: a view keeps the whole
      // message alive, so a payload that is a small part of it (padding, extensions) is copied;
      // the usual packet is kept as it came (a copy is one more buffer for the GC a packet).
      if (packet.payload.byteLength * 2 < packet.payload.buffer.byteLength) {
        packet.payload = packet.payload.slice();
      }
      actions.write({ type: "rtp", packet, arrivalMs: this.#clock.now() });
    } catch (error) {
      this.#reportError(error);
    }
  }

  /** Handles one text message: a JSON control message. */
  text(text: string): void {
    const actions = this.#actions;
    if (text.length > this.#maxMessageBytes) return actions.tooBig(text.length);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return actions.report("invalid_control", "message is not JSON");
    }
    const control = ClientControl.safeParse(parsed);
    if (!control.success) {
      return actions.report(
        "invalid_control",
        control.error.issues.map((i) => i.message).join("; "),
      );
    }
    const message = control.data;
    switch (message.type) {
      case "bye":
        return actions.bye();
      case "ping":
        return actions.ping(message.t);
      case "delegate":
        return actions.delegate(message.request, {
          urgent: message.urgent ?? false,
          tool: message.tool,
        });
      case "cancel_task":
        return actions.cancelTask(message.id);
      default:
        return actions.typed(message.text, message.timestampMs);
    }
  }

  /**
   * A camera frame joins the open micro-turn (the newest one per micro-turn is used). When the
   * ingress pipeline is backed up, video is dropped before audio.
   */
  #video(bytes: Uint8Array): void {
    try {
      const { timestampMs, jpeg } = parseVideoMessage(bytes);
      if (!this.#actions.hasRoom()) {
        this.#videoDropped++;
        return;
      }
      this.#actions.write({ type: "video", timestampMs, jpeg: jpeg.slice() });
    } catch (error) {
      this.#reportError(error);
    }
  }

  #reportError(error: unknown): void {
    this.#actions.report(
      errorCodeOf(error),
      error instanceof Error ? error.message : String(error),
    );
  }
}
