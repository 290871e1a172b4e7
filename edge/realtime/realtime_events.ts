/**
 * The OpenAI Realtime protocol's client events this edge accepts (GA shapes, with the beta's
 * format names accepted too), and the shape of its `error` event. Fields the interaction model
 * has no use for are accepted and listed in docs/realtime-compat.md; unknown event types are
 * answered with an `error` event, never silently.
 *
 * @module
 */
import { z } from "zod";
import type { RealtimeAudioFormat } from "./audio_formats.ts";

/** An audio format as GA (`{type, rate}`) or beta (`"pcm16"`, `"g711_ulaw"`, `"g711_alaw"`) send it. */
const AudioFormat = z.union([
  z.object({
    type: z.enum(["audio/pcm", "audio/pcmu", "audio/pcma"]),
    rate: z.number().optional(),
  }).passthrough(),
  z.enum(["pcm16", "g711_ulaw", "g711_alaw"]),
]);

const TurnDetection = z.object({
  type: z.enum(["server_vad", "semantic_vad"]),
  threshold: z.number().min(0).max(1).optional(),
  prefix_padding_ms: z.number().int().min(0).optional(),
  silence_duration_ms: z.number().int().min(0).optional(),
  create_response: z.boolean().optional(),
  interrupt_response: z.boolean().optional(),
}).passthrough().nullable();

/** The session fields a client may set. */
export const SessionConfig = z.object({
  type: z.literal("realtime").optional(),
  instructions: z.string().optional(),
  output_modalities: z.array(z.enum(["audio", "text"])).optional(),
  audio: z.object({
    input: z.object({
      format: AudioFormat.optional(),
      turn_detection: TurnDetection.optional(),
    }).passthrough().optional(),
    output: z.object({ format: AudioFormat.optional() }).passthrough().optional(),
  }).passthrough().optional(),
  // Beta names.
  input_audio_format: AudioFormat.optional(),
  output_audio_format: AudioFormat.optional(),
  turn_detection: TurnDetection.optional(),
  tools: z.array(
    z.object({
      type: z.string(),
      name: z.string().optional(),
      description: z.string().optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
    }).passthrough(),
  ).optional(),
  tool_choice: z.unknown().optional(),
}).passthrough();

/** A session configuration as a client sends it. */
export type SessionConfig = z.infer<typeof SessionConfig>;

const eventId = { event_id: z.string().optional() };

const MessageItem = z.object({
  id: z.string().optional(),
  type: z.literal("message"),
  role: z.enum(["user", "system", "assistant"]),
  content: z.array(
    z.object({
      type: z.string(),
      text: z.string().optional(),
      transcript: z.string().nullable().optional(),
    }).passthrough(),
  ),
}).passthrough();

const FunctionCallOutputItem = z.object({
  id: z.string().optional(),
  type: z.literal("function_call_output"),
  call_id: z.string(),
  output: z.string(),
}).passthrough();

/** Every client event this edge accepts. */
export const RealtimeClientEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("session.update"), ...eventId, session: SessionConfig }),
  z.object({ type: z.literal("input_audio_buffer.append"), ...eventId, audio: z.string() }),
  z.object({ type: z.literal("input_audio_buffer.commit"), ...eventId }),
  z.object({ type: z.literal("input_audio_buffer.clear"), ...eventId }),
  z.object({
    type: z.literal("conversation.item.create"),
    ...eventId,
    previous_item_id: z.string().nullable().optional(),
    item: z.discriminatedUnion("type", [MessageItem, FunctionCallOutputItem]),
  }),
  z.object({
    type: z.literal("conversation.item.truncate"),
    ...eventId,
    item_id: z.string(),
    content_index: z.number().int().min(0),
    audio_end_ms: z.number().int().min(0),
  }),
  z.object({ type: z.literal("conversation.item.delete"), ...eventId, item_id: z.string() }),
  z.object({
    type: z.literal("response.create"),
    ...eventId,
    response: z.object({
      instructions: z.string().optional(),
      tool_choice: z.union([
        z.enum(["auto", "none", "required"]),
        z.object({ type: z.literal("function"), name: z.string() }).passthrough(),
        z.object({ type: z.string() }).passthrough(),
      ]).optional(),
    }).passthrough().optional(),
  }),
  z.object({
    type: z.literal("response.cancel"),
    ...eventId,
    response_id: z.string().optional(),
  }),
]);

/** The client event types accepted. */
export const CLIENT_EVENT_TYPES: ReadonlySet<string> = new Set(
  RealtimeClientEvent.options.map((option) => option.shape.type.value),
);

/** A validated client event. */
export type RealtimeClientEvent = z.infer<typeof RealtimeClientEvent>;

/** The GA format type of a format as a client sent it. */
export function formatOf(format: z.infer<typeof AudioFormat> | undefined): RealtimeAudioFormat {
  if (format === undefined || format === "pcm16") return "audio/pcm";
  if (format === "g711_ulaw") return "audio/pcmu";
  if (format === "g711_alaw") return "audio/pcma";
  return format.type;
}

/** The protocol's `error` event. */
export function realtimeError(
  code: string,
  message: string,
  clientEventId: string | null = null,
  param: string | null = null,
): Record<string, unknown> {
  return {
    type: "error",
    event_id: `event_${crypto.randomUUID().replaceAll("-", "")}`,
    error: {
      type: code === "server_error" ? "server_error" : "invalid_request_error",
      code,
      message,
      param,
      event_id: clientEventId,
    },
  };
}
