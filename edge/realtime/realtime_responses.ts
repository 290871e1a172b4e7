/**
 * The model's output as Realtime responses. The interaction model has no turns: every 200 ms
 * micro-turn its control head says `silent`, `speak` or `delegate`. A run of `speak`
 * micro-turns is one response: its first opens it (`response.created`, the assistant item, its
 * audio part), each micro-turn's audio and text are the response's deltas, and the first
 * micro-turn after the run closes it (`response.done`, `completed`). A cancelled response ends
 * at once, and the rest of its speaking run is not sent.
 *
 * @module
 */
import type { ControlAction } from "../../protocol/worker_link.ts";
import { encodeFormat, type Resampler, resamplersFor } from "./audio_formats.ts";
import { type ConversationState, formatObject } from "./conversation_state.ts";
import { newId } from "./realtime_ids.ts";
import type { FunctionCall } from "./client_functions.ts";

/** Why a response was cancelled. */
export type CancelReason = "turn_detected" | "client_cancelled";

/** An assistant response under way. */
interface Response {
  id: string;
  itemId: string;
  transcript: string;
}

/** Turns a session's micro-turn outputs into responses; see the module doc. */
export class RealtimeResponses {
  readonly #emit: (event: Record<string, unknown>) => void;
  readonly #state: ConversationState;
  readonly #sessionId: string;
  #resampler: Resampler;
  #response: Response | undefined;
  /** The model's current speaking run was cancelled: its rest is not sent. */
  #suppressed = false;
  /** Whether the audio now arriving belongs to the response. */
  #speaking = false;

  /**
   * @param emit sends an event to the client
   * @param state the conversation (its items, its output format)
   * @param sessionId the session, the responses' conversation id
   */
  constructor(
    emit: (event: Record<string, unknown>) => void,
    state: ConversationState,
    sessionId: string,
  ) {
    this.#emit = emit;
    this.#state = state;
    this.#sessionId = sessionId;
    this.#resampler = resamplersFor(state.outputFormat).out;
  }

  /** Whether a response is under way. */
  get active(): boolean {
    return this.#response !== undefined;
  }

  /** Whether the audio now arriving is a response's (else it is not sent). */
  get speaking(): boolean {
    return this.#speaking && this.#response !== undefined;
  }

  /** The output format changed: audio is converted to it from now on. */
  formatChanged(): void {
    this.#resampler = resamplersFor(this.#state.outputFormat).out;
  }

  /** A micro-turn's output: its control decision and text (its audio follows). */
  output(control: ControlAction, text: string): void {
    if (control !== "speak") {
      this.#suppressed = false;
      this.#speaking = false;
      if (this.#response) this.#finish("completed");
      return;
    }
    if (this.#suppressed) {
      this.#speaking = false;
      return;
    }
    const response = this.#response ?? this.#start();
    this.#speaking = true;
    if (text) {
      response.transcript += text;
      this.#emit({ type: "response.output_audio_transcript.delta", ...this.#part(), delta: text });
    }
  }

  /** 16 kHz audio of the response: converted and sent as a delta. */
  audio(samples: Int16Array): void {
    if (!this.speaking) return;
    const converted = this.#resampler.push(samples);
    const bytes = encodeFormat(this.#state.outputFormat, converted);
    this.#emit({ type: "response.output_audio.delta", ...this.#part(), delta: toBase64(bytes) });
  }

  /** Ends the response under way as cancelled; false when there is none. */
  cancel(reason: CancelReason): boolean {
    if (!this.#response) return false;
    this.#finish("cancelled", reason);
    return true;
  }

  /**
   * A function call as a response of its own: its output item a `function_call`, the
   * arguments streamed in one delta, done at once (the client answers with the output).
   */
  functionCall(call: FunctionCall): void {
    const previous = this.#response;
    const response: Response = { id: newId("resp"), itemId: newId("item"), transcript: "" };
    this.#response = response;
    const item = (status: string, args: string) => ({
      id: response.itemId,
      type: "function_call",
      object: "realtime.item",
      status,
      name: call.name,
      call_id: call.callId,
      arguments: args,
    });
    const where = { response_id: response.id, item_id: response.itemId, output_index: 0 };
    this.#emit({ type: "response.created", response: this.#responseObject("in_progress", []) });
    const added = item("in_progress", "");
    this.#emit({
      type: "response.output_item.added",
      response_id: response.id,
      output_index: 0,
      item: added,
    });
    this.#emit({
      type: "conversation.item.added",
      previous_item_id: this.#state.lastItemId,
      item: added,
    });
    this.#emit({
      type: "response.function_call_arguments.delta",
      ...where,
      call_id: call.callId,
      delta: call.arguments,
    });
    this.#emit({
      type: "response.function_call_arguments.done",
      ...where,
      call_id: call.callId,
      name: call.name,
      arguments: call.arguments,
    });
    const done = item("completed", call.arguments);
    this.#emit({
      type: "response.output_item.done",
      response_id: response.id,
      output_index: 0,
      item: done,
    });
    this.#emit({
      type: "conversation.item.done",
      previous_item_id: this.#state.lastItemId,
      item: done,
    });
    this.#state.items.set(response.itemId, done);
    this.#state.lastItemId = response.itemId;
    this.#emit({ type: "response.done", response: this.#responseObject("completed", [done]) });
    this.#response = previous;
  }

  #start(): Response {
    const response: Response = { id: newId("resp"), itemId: newId("item"), transcript: "" };
    this.#response = response;
    this.#emit({ type: "response.created", response: this.#responseObject("in_progress", []) });
    const item = this.#assistantItem("in_progress", []);
    this.#emit({
      type: "response.output_item.added",
      response_id: response.id,
      output_index: 0,
      item,
    });
    this.#state.items.set(response.itemId, item);
    this.#emit({ type: "conversation.item.added", previous_item_id: this.#state.lastItemId, item });
    this.#emit({
      type: "response.content_part.added",
      ...this.#part(),
      part: { type: "audio", transcript: "" },
    });
    return response;
  }

  #finish(status: "completed" | "cancelled", reason?: CancelReason): void {
    const response = this.#response!;
    if (status === "cancelled") {
      this.#suppressed = true;
      this.#speaking = false;
    }
    const part = this.#part();
    const { transcript } = response;
    this.#emit({ type: "response.output_audio.done", ...part });
    this.#emit({ type: "response.output_audio_transcript.done", ...part, transcript });
    this.#emit({
      type: "response.content_part.done",
      ...part,
      part: { type: "audio", transcript },
    });
    const item = this.#assistantItem(
      status === "completed" ? "completed" : "incomplete",
      [{ type: "output_audio", transcript }],
    );
    this.#emit({
      type: "response.output_item.done",
      response_id: response.id,
      output_index: 0,
      item,
    });
    this.#emit({ type: "conversation.item.done", previous_item_id: this.#state.lastItemId, item });
    this.#state.items.set(response.itemId, item);
    this.#state.lastItemId = response.itemId;
    this.#emit({
      type: "response.done",
      response: {
        ...this.#responseObject(status, [item]),
        status_details: status === "cancelled" ? { type: "cancelled", reason } : null,
      },
    });
    this.#response = undefined;
    // No rate limits are enforced per connection yet: the list says so rather than inventing one.
    this.#emit({ type: "rate_limits.updated", rate_limits: [] });
  }

  #part() {
    const response = this.#response!;
    return {
      response_id: response.id,
      item_id: response.itemId,
      output_index: 0,
      content_index: 0,
    };
  }

  #assistantItem(status: string, content: unknown[]) {
    return {
      id: this.#response!.itemId,
      type: "message",
      object: "realtime.item",
      status,
      role: "assistant",
      content,
    };
  }

  #responseObject(status: string, output: unknown[]) {
    return {
      object: "realtime.response",
      id: this.#response!.id,
      status,
      status_details: null,
      output,
      conversation_id: this.#sessionId,
      output_modalities: ["audio"],
      max_output_tokens: "inf",
      audio: { output: { format: formatObject(this.#state.outputFormat) } },
      usage: null,
      metadata: null,
    };
  }
}

/** Base64 of bytes, in chunks (spreading a whole buffer into one call overflows the stack). */
function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
