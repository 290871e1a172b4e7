/**
 * What a Realtime conversation keeps across connections: its formats, turn detection and
 * instructions, its items in order, the uncommitted user item, and the input's RTP stream toward
 * the session. A resumed connection's bridge takes it over from the dropped one's.
 *
 * @module
 */
import type { RealtimeAudioFormat } from "./audio_formats.ts";
import { SpeechDetector } from "./speech_detector.ts";
import { ClientFunctions } from "./client_functions.ts";
import { newId } from "./realtime_ids.ts";

/** Turn detection as configured (`null`: none, the client commits). */
export type TurnDetection = {
  type: "server_vad" | "semantic_vad";
  threshold: number;
  prefix_padding_ms: number;
  silence_duration_ms: number;
  create_response: boolean;
  interrupt_response: boolean;
} | null;

/** A conversation's state that outlives a connection. */
export interface ConversationState {
  /** Format of the client's input audio. */
  inputFormat: RealtimeAudioFormat;
  /** Format of the audio sent to the client. */
  outputFormat: RealtimeAudioFormat;
  /** Turn detection. */
  turnDetection: TurnDetection;
  /** The session's instructions (echoed; the model takes none). */
  instructions: string;
  /** Items in order, by id. */
  items: Map<string, Record<string, unknown>>;
  /** The newest item's id. */
  lastItemId: string | null;
  /** The user item the uncommitted input will be. */
  userItemId: string;
  /** 20 ms input frames since the last commit. */
  uncommittedFrames: number;
  /** 20 ms input frames handed to the session. */
  inputFrames: number;
  /** The input's RTP stream toward the session, continued across connections. */
  rtp: { sequence: number; timestamp: number; ssrc: number; first: boolean; lastSentMs: number };
  /** The client's functions, the background model's tools (pending calls survive a drop). */
  functions: ClientFunctions;
}

/** A new conversation: pcm16 both ways, server VAD, as the protocol's defaults. */
export function newConversationState(): ConversationState {
  return {
    inputFormat: "audio/pcm",
    outputFormat: "audio/pcm",
    turnDetection: {
      type: "server_vad",
      threshold: 0.5,
      prefix_padding_ms: 300,
      silence_duration_ms: 500,
      create_response: true,
      interrupt_response: true,
    },
    instructions: "",
    items: new Map(),
    lastItemId: null,
    userItemId: newId("item"),
    uncommittedFrames: 0,
    inputFrames: 0,
    rtp: {
      sequence: Math.floor(Math.random() * 65536),
      timestamp: Math.floor(Math.random() * 2 ** 32) >>> 0,
      ssrc: Math.floor(Math.random() * 2 ** 32) >>> 0,
      first: true,
      lastSentMs: 0,
    },
    functions: new ClientFunctions(),
  };
}

/** The speech detector for a turn detection setting. */
export function detectorFor(detection: TurnDetection): SpeechDetector {
  return detection
    ? new SpeechDetector(
      detection.threshold,
      detection.silence_duration_ms,
      detection.prefix_padding_ms,
    )
    : new SpeechDetector();
}

/** A format as the protocol describes it. */
export function formatObject(format: RealtimeAudioFormat): { type: string; rate?: number } {
  return format === "audio/pcm" ? { type: format, rate: 24_000 } : { type: format };
}
