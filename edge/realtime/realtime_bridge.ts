/**
 * One OpenAI Realtime connection in front of an edge session. Toward the client it speaks the
 * Realtime protocol (JSON events, base64 audio); toward the session it is the session's client
 * socket, fed linear PCM (codec `l16`), so the session runs exactly as a native one: same
 * jitter buffer, micro-turns, worker, event log, compaction.
 *
 * Client events become session input (audio frames, typed text) and conversation items; the
 * model's outputs become responses (realtime_responses.ts). The user speaking while a response
 * plays (server VAD) cancels it (`turn_detected`), as `response.cancel` does. What outlives the
 * connection (conversation_state.ts) passes to the bridge of a connection that resumes it.
 * docs/realtime-compat.md has the whole mapping.
 *
 * @module
 */
import type { EdgeSession } from "../edge_session.ts";
import type { ClientSocket } from "../edge_session_options.ts";
import type { ServerMessage } from "../../protocol/client_messages.ts";
import { parseRtpPacket, serializeRtpPacket } from "../../pipeline/rtp_packet.ts";
import { l16Bytes, l16Samples } from "../../pipeline/l16_samples.ts";
import {
  AUDIO_FRAME_MS,
  L16_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../../protocol/media_format.ts";
import {
  decodeFormat,
  FORMAT_SAMPLE_BYTES,
  type Resampler,
  resamplersFor,
} from "./audio_formats.ts";
import {
  CLIENT_EVENT_TYPES,
  formatOf,
  RealtimeClientEvent,
  realtimeError,
  type SessionConfig,
} from "./realtime_events.ts";
import type { SpeechDetector } from "./speech_detector.ts";
import {
  type ConversationState,
  detectorFor,
  formatObject,
  newConversationState,
} from "./conversation_state.ts";
import { newId } from "./realtime_ids.ts";
import { RealtimeResponses } from "./realtime_responses.ts";
import { toBeta } from "./beta_dialect.ts";
import type { Clock } from "../../lib/clock.ts";
import type { ToolHost } from "../../background/chat_runner.ts";

/** The real socket to the Realtime client. */
export interface RealtimeSocket {
  /** Sends a text message. */
  send(data: string): void;
  /** Closes with a code and reason. */
  close(code: number, reason: string): void;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
}

/** What a {@linkcode RealtimeBridge} needs. */
export interface RealtimeBridgeOptions {
  /** The client's socket. */
  socket: RealtimeSocket;
  /** The edge session's id (the Realtime session's id). */
  sessionId: string;
  /** Model name the client asked for. */
  model: string;
  /** Largest client message accepted, bytes. */
  maxMessageBytes: number;
  /** Wall clock (a resumed connection's input goes on from now). */
  clock: Clock;
  /** The protocol's GA events (default), or its beta dialect (`OpenAI-Beta: realtime=v1`). */
  dialect?: "ga" | "beta";
}

/** Bridges one Realtime connection and its edge session. */
export class RealtimeBridge implements ClientSocket {
  readonly #o: RealtimeBridgeOptions;
  #session: EdgeSession | undefined;
  /** What outlives a connection: a resumed connection's bridge takes it over. */
  readonly #state: ConversationState;
  readonly #responses: RealtimeResponses;
  #inputResampler: Resampler;
  #detector: SpeechDetector;
  /** 16 kHz input not yet a whole 20 ms frame. */
  #pending = new Int16Array(0);

  /**
   * @param options the client's socket, the session's id and limits
   * @param resumed the bridge of the connection this one resumes: its conversation goes on here
   */
  constructor(options: RealtimeBridgeOptions, resumed?: RealtimeBridge) {
    this.#o = options;
    this.#state = resumed ? resumed.#state : newConversationState();
    const state = this.#state;
    this.#inputResampler = resamplersFor(state.inputFormat).in;
    this.#responses = new RealtimeResponses((event) => this.#emit(event), state, options.sessionId);
    state.functions.announce = (call) => this.#responses.functionCall(call);
    this.#detector = detectorFor(state.turnDetection);
    if (!resumed) {
      // The protocol's first event, before the session is placed on a worker (a refusal
      // follows as an `error` event and the socket's close).
      this.#emit({ type: "session.created", session: this.#sessionObject() });
      return;
    }
    // Input goes on from now: the time away is a gap in the input's media time, not a pause.
    const awayFrames = Math.floor((options.clock.now() - state.rtp.lastSentMs) / AUDIO_FRAME_MS);
    state.rtp.timestamp = (state.rtp.timestamp + Math.max(0, awayFrames) * RTP_TICKS_PER_FRAME) >>>
      0;
    this.#emit({
      type: "session.created",
      session: this.#sessionObject(),
      // Not in OpenAI's protocol, which has no resumption: how much input audio this session
      // received, so a client re-sends only what came after.
      resumed: { input_audio_received_ms: state.inputFrames * AUDIO_FRAME_MS },
    });
    let previous: string | null = null;
    for (const item of state.items.values()) {
      this.#emit({ type: "conversation.item.added", previous_item_id: previous, item });
      previous = item.id as string;
    }
  }

  /** The client's functions: the tools it offers the session's background model. */
  get functions(): ToolHost {
    return this.#state.functions;
  }

  /** The session the client's events go to. */
  attach(session: EdgeSession): void {
    this.#session = session;
  }

  // --- the edge session's side: what it sends its client ---

  /** Bytes queued on the client's socket. */
  get bufferedAmount(): number {
    return this.#o.socket.bufferedAmount;
  }

  /** Closes the client's socket. */
  close(code: number, reason: string): void {
    this.#o.socket.close(code, reason);
  }

  /** A message of the native protocol from the session, turned into Realtime events. */
  send(data: string | Uint8Array<ArrayBuffer>): void {
    if (typeof data !== "string") return this.#audio(data);
    const message = JSON.parse(data) as ServerMessage;
    switch (message.type) {
      case "output":
        return this.#responses.output(message.control, message.text);
      case "error":
        this.#emit(realtimeError(message.code, message.message));
        return;
      default:
        // ready, ack, stats, pong, task, closed: the Realtime protocol has no counterpart.
        return;
    }
  }

  // --- the client's side: Realtime events in ---

  /** One message from the Realtime client. */
  receive(data: string | ArrayBuffer): void {
    if (typeof data !== "string") {
      this.#emit(realtimeError("invalid_value", "binary messages are not part of this protocol"));
      return;
    }
    if (data.length > this.#o.maxMessageBytes) {
      this.#emit(
        realtimeError(
          "message_too_large",
          `message of ${data.length} bytes exceeds ${this.#o.maxMessageBytes}`,
        ),
      );
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.#emit(realtimeError("invalid_json", "message is not JSON"));
      return;
    }
    const clientEventId = typeof (json as { event_id?: unknown })?.event_id === "string"
      ? (json as { event_id: string }).event_id
      : null;
    const type = (json as { type?: unknown })?.type;
    if (typeof type !== "string" || !CLIENT_EVENT_TYPES.has(type)) {
      this.#emit(
        realtimeError("unknown_event", `unknown event type ${JSON.stringify(type)}`, clientEventId),
      );
      return;
    }
    const parsed = RealtimeClientEvent.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = issue.path.join(".") || null;
      this.#emit(
        realtimeError("invalid_value", `${param ?? type}: ${issue.message}`, clientEventId, param),
      );
      return;
    }
    this.#handle(parsed.data, clientEventId);
  }

  #handle(event: RealtimeClientEvent, eventId: string | null): void {
    switch (event.type) {
      case "session.update":
        return this.#update(event.session);
      case "input_audio_buffer.append":
        return this.#append(event.audio, eventId);
      case "input_audio_buffer.commit":
        if (this.#state.uncommittedFrames === 0) {
          this.#emit(
            realtimeError(
              "input_audio_buffer_commit_empty",
              "the input audio buffer is empty",
              eventId,
            ),
          );
          return;
        }
        return this.#commit();
      case "input_audio_buffer.clear":
        // Audio already in the jitter buffer has reached the model's clock; only the
        // uncommitted item is dropped.
        this.#state.uncommittedFrames = 0;
        this.#emit({ type: "input_audio_buffer.cleared" });
        return;
      case "conversation.item.create": {
        const item = event.item;
        const itemId = item.id ?? newId("item");
        if (item.type === "function_call_output") {
          // The answer to the background model's call; else news for the model itself.
          if (!this.#state.functions.deliver(item.call_id, item.output)) {
            this.#typed(`function ${item.call_id} returned: ${item.output}`);
          }
        } else {
          const text = item.content.map((part) => part.text ?? part.transcript ?? "").join(" ")
            .trim();
          if (text) this.#typed(text);
        }
        this.#addItem({ ...item, id: itemId, object: "realtime.item", status: "completed" });
        return;
      }
      case "conversation.item.truncate":
        if (!this.#state.items.has(event.item_id)) {
          return this.#unknownItem(event.item_id, eventId);
        }
        this.#emit({
          type: "conversation.item.truncated",
          item_id: event.item_id,
          content_index: event.content_index,
          audio_end_ms: event.audio_end_ms,
        });
        return;
      case "conversation.item.delete":
        if (!this.#state.items.delete(event.item_id)) {
          return this.#unknownItem(event.item_id, eventId);
        }
        this.#emit({ type: "conversation.item.deleted", item_id: event.item_id });
        return;
      case "response.create": {
        // The model speaks when it decides to; its next speaking run is the response. A
        // response that must call a function goes to the background model, told to call it.
        const choice = event.response?.tool_choice;
        const name = typeof choice === "object" && choice?.type === "function"
          ? choice.name
          : undefined;
        if (name !== undefined) {
          this.#session?.receiveText(JSON.stringify({
            type: "delegate",
            request: event.response?.instructions ?? `Call ${name} for what the user wants.`,
            tool: name,
          }));
        }
        return;
      }
      case "response.cancel":
        if (!this.#responses.cancel("client_cancelled")) {
          this.#emit(
            realtimeError("response_cancel_not_active", "no response is in progress", eventId),
          );
          return;
        }
        return;
    }
  }

  #update(config: SessionConfig): void {
    const input = formatOf(config.audio?.input?.format ?? config.input_audio_format);
    const output = formatOf(config.audio?.output?.format ?? config.output_audio_format);
    const state = this.#state;
    if (input !== state.inputFormat && (config.audio?.input?.format ?? config.input_audio_format)) {
      state.inputFormat = input;
      this.#inputResampler = resamplersFor(input).in;
    }
    if (
      output !== state.outputFormat && (config.audio?.output?.format ?? config.output_audio_format)
    ) {
      state.outputFormat = output;
      this.#responses.formatChanged();
    }
    const detection = config.audio?.input?.turn_detection !== undefined
      ? config.audio.input.turn_detection
      : config.turn_detection;
    if (detection !== undefined) {
      state.turnDetection = detection === null ? null : {
        type: detection.type,
        threshold: detection.threshold ?? 0.5,
        prefix_padding_ms: detection.prefix_padding_ms ?? 300,
        silence_duration_ms: detection.silence_duration_ms ?? 500,
        create_response: detection.create_response ?? true,
        interrupt_response: detection.interrupt_response ?? true,
      };
      this.#detector = detectorFor(state.turnDetection);
    }
    if (config.instructions !== undefined) state.instructions = config.instructions;
    if (config.tools !== undefined) state.functions.declare(config.tools);
    this.#emit({ type: "session.updated", session: this.#sessionObject() });
  }

  #append(base64: string, eventId: string | null): void {
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    } catch {
      this.#emit(realtimeError("invalid_value", "audio is not valid base64", eventId, "audio"));
      return;
    }
    if (bytes.length % FORMAT_SAMPLE_BYTES[this.#state.inputFormat] !== 0) {
      this.#emit(
        realtimeError(
          "invalid_value",
          `audio is not whole ${this.#state.inputFormat} samples (${bytes.length} bytes)`,
          eventId,
          "audio",
        ),
      );
      return;
    }
    const samples = this.#inputResampler.push(decodeFormat(this.#state.inputFormat, bytes));
    const all = new Int16Array(this.#pending.length + samples.length);
    all.set(this.#pending);
    all.set(samples, this.#pending.length);
    let at = 0;
    for (; at + SAMPLES_PER_FRAME <= all.length; at += SAMPLES_PER_FRAME) {
      this.#frame(all.slice(at, at + SAMPLES_PER_FRAME));
    }
    this.#pending = all.slice(at);
  }

  /** One 20 ms frame of 16 kHz input: to the session as an L16 packet, and through the VAD. */
  #frame(frame: Int16Array): void {
    const rtp = this.#state.rtp;
    this.#session?.receiveBinary(serializeRtpPacket({
      payloadType: L16_PAYLOAD_TYPE,
      marker: rtp.first,
      sequenceNumber: rtp.sequence,
      timestamp: rtp.timestamp,
      ssrc: rtp.ssrc,
      payload: l16Bytes(frame),
    }));
    rtp.first = false;
    rtp.sequence = (rtp.sequence + 1) & 0xffff;
    rtp.timestamp = (rtp.timestamp + RTP_TICKS_PER_FRAME) >>> 0;
    rtp.lastSentMs = this.#o.clock.now();
    this.#state.inputFrames++;
    this.#state.uncommittedFrames++;
    if (!this.#state.turnDetection) return;
    const change = this.#detector.push(frame);
    if (change?.kind === "started") {
      if (this.#state.turnDetection.interrupt_response) this.#responses.cancel("turn_detected");
      this.#emit({
        type: "input_audio_buffer.speech_started",
        audio_start_ms: change.atMs,
        item_id: this.#state.userItemId,
      });
    } else if (change?.kind === "stopped") {
      this.#emit({
        type: "input_audio_buffer.speech_stopped",
        audio_end_ms: change.atMs,
        item_id: this.#state.userItemId,
      });
      this.#commit();
    }
  }

  /** The audio since the last commit becomes a user item. */
  #commit(): void {
    const itemId = this.#state.userItemId;
    this.#state.userItemId = newId("item");
    this.#state.uncommittedFrames = 0;
    this.#emit({
      type: "input_audio_buffer.committed",
      previous_item_id: this.#state.lastItemId,
      item_id: itemId,
    });
    this.#addItem({
      id: itemId,
      type: "message",
      object: "realtime.item",
      status: "completed",
      role: "user",
      content: [{ type: "input_audio", transcript: null }],
    });
  }

  #typed(text: string): void {
    this.#session?.receiveText(JSON.stringify({ type: "text", text }));
  }

  #addItem(item: Record<string, unknown> & { id: string }): void {
    const previous = this.#state.lastItemId;
    this.#state.items.set(item.id, item);
    this.#state.lastItemId = item.id;
    this.#emit({ type: "conversation.item.added", previous_item_id: previous, item });
    this.#emit({ type: "conversation.item.done", previous_item_id: previous, item });
  }

  #unknownItem(itemId: string, eventId: string | null): void {
    this.#emit(
      realtimeError("item_not_found", `no item ${itemId} in the conversation`, eventId, "item_id"),
    );
  }

  // --- the model's output as responses ---

  #audio(packet: Uint8Array): void {
    if (this.#responses.speaking) this.#responses.audio(l16Samples(parseRtpPacket(packet).payload));
  }

  #sessionObject() {
    return {
      type: "realtime",
      object: "realtime.session",
      id: this.#o.sessionId,
      model: this.#o.model,
      output_modalities: ["audio"],
      instructions: this.#state.instructions,
      audio: {
        input: {
          format: formatObject(this.#state.inputFormat),
          transcription: null,
          noise_reduction: null,
          turn_detection: this.#state.turnDetection,
        },
        output: {
          format: formatObject(this.#state.outputFormat),
          voice: "reference",
          speed: 1,
        },
      },
      tools: this.#state.functions.declared,
      tool_choice: "auto",
      max_output_tokens: "inf",
      tracing: null,
      prompt: null,
      include: null,
    };
  }

  #emit(event: Record<string, unknown>): void {
    const sent = this.#o.dialect === "beta" ? toBeta(event) : event;
    if (sent) this.#o.socket.send(JSON.stringify({ event_id: newId("event"), ...sent }));
  }
}
