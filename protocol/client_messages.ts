/**
 * JSON control messages between a client and the edge (protocol v1). Binary messages are RTP
 * packets (first byte's top bits `10`); everything else a client sends is one of
 * {@linkcode ClientControl}, validated here. docs/protocol.md is the reference.
 *
 * @module
 */
import { z } from "zod";
import type { ControlAction } from "./worker_link.ts";
import type { ErrorCode } from "./error_codes.ts";
import type { JitterStats } from "../pipeline/jitter_buffer.ts";
import type { EgressStats } from "../pipeline/egress_pacer.ts";
import type { TaskStatus } from "../background/task_store.ts";
import type { RunnerUpdate } from "../background/chat_runner.ts";

/** Client protocol version. */
export const CLIENT_PROTOCOL_VERSION = 1;

/** Longest text message a client may send, in characters. */
export const MAX_TEXT_CHARS = 4096;

/** Control messages a client sends. */
export const ClientControl = z.discriminatedUnion("type", [
  /** Text the user typed; joins the micro-turn open when it arrives. */
  z.object({
    type: z.literal("text"),
    text: z.string().min(1).max(MAX_TEXT_CHARS),
    /** When the user typed it, ms of the client's media clock (the RTP clock / 48). */
    timestampMs: z.number().nonnegative().optional(),
  }),
  /** The client is done: the edge finishes the open micro-turn, then closes. */
  z.object({ type: z.literal("bye") }),
  /** Round-trip probe: answered at once with a `pong` carrying the same `t`. */
  z.object({ type: z.literal("ping"), t: z.number() }),
  /** Hand a request to the background model; `urgent` results are not held for a pause. */
  z.object({
    type: z.literal("delegate"),
    request: z.string().min(1).max(MAX_TEXT_CHARS),
    urgent: z.boolean().optional(),
    /** A tool (`server__tool`) the background model must call first. */
    tool: z.string().min(1).max(200).optional(),
  }),
  /** Cancel a running background task. */
  z.object({ type: z.literal("cancel_task"), id: z.string().uuid() }),
]);

/** A validated client control message. */
export type ClientControl = z.infer<typeof ClientControl>;

/** What the model did in one micro-turn; its `audioFrames` audio packets follow. */
export interface OutputMessage {
  type: "output";
  index: number;
  control: ControlAction;
  text: string;
  audioFrames: number;
  /** Set when input up to this sequence became durable since the last acknowledgement. */
  ack?: number;
  /** Once a second: the link's counters (a `stats` message's, which then does not come). */
  stats?: SessionStats;
}

/** The session's link counters, told once a second. */
export interface SessionStats {
  /** The jitter buffer's counters. */
  jitter: JitterStats;
  /** The egress pacer's counters. */
  egress: EgressStats;
  /** Camera frames dropped because the ingress pipeline was backed up. */
  videoDropped: number;
}

/** Messages the edge sends as JSON text. */
export type ServerMessage =
  | {
    type: "ready";
    protocol: number;
    session: string;
    sampleRate: number;
    microTurnMs: number;
    payloadType: number;
    /** Token for `?resume=` after a lost connection; each `ready` brings a fresh one. */
    resumeToken: string;
    /** This connection resumed a live session. */
    resumed: boolean;
    /** Input sequence number acknowledged so far (replay what follows it), or null. */
    acknowledged: number | null;
  }
  /** A background task: started, streaming (`update`), or ended (`status` and `text`). */
  | {
    type: "task";
    id: string;
    status: "running" | TaskStatus;
    request?: string;
    update?: RunnerUpdate;
    text?: string;
  }
  /** Answer to a `ping`. */
  | { type: "pong"; t: number }
  /** Every input packet up to `sequence` (16-bit RTP) was received or given up on. */
  | { type: "ack"; sequence: number }
  /** The link's counters, once a second when no output carried them. */
  | ({ type: "stats" } & SessionStats)
  | OutputMessage
  | { type: "error"; code: ErrorCode; message: string; fatal: boolean }
  | { type: "closed"; reason: string; microTurns: number; egress: EgressStats };
