/**
 * What an {@linkcode EdgeSession} is made with: its client's socket, as far as it uses one, and
 * its collaborators at the edge.
 *
 * @module
 */
import type { JitterBufferOptions } from "../pipeline/jitter_buffer.ts";
import type { Delegation } from "./session_background.ts";
import type { AudioCodec } from "../protocol/media_format.ts";
import type { WorkerLinks } from "./worker_links.ts";
import type { EventLog } from "../store/event_log.ts";
import type { EdgeMetrics } from "./edge_metrics.ts";
import type { ToolHost } from "../background/chat_runner.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

/** The parts of a WebSocket a session uses. */
export interface ClientSocket {
  /** Sends a text or binary message. */
  send(data: string | Uint8Array<ArrayBuffer>): void;
  /** Closes with a code and reason. */
  close(code: number, reason: string): void;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
}

/** What a session needs from the edge. */
export interface EdgeSessionOptions {
  /** Session id. */
  sessionId: string;
  /** When the session was created (the model's time origin). */
  startedAtMs: number;
  /** The workers the session may be placed on. */
  workers: WorkerLinks;
  /** Where events are recorded. */
  eventLog: EventLog;
  /** Edge metrics. */
  metrics: EdgeMetrics;
  /** Wall clock. */
  clock: Clock;
  /** Logger. */
  log: Logger;
  /** Largest message accepted, in bytes. */
  maxMessageBytes: number;
  /** Above this many queued bytes on the socket, output audio is skipped, not queued. */
  maxBufferedBytes: number;
  /** Longest wait for outstanding outputs when the session ends. */
  drainTimeoutMs: number;
  /** Jitter buffer tuning. */
  jitter?: JitterBufferOptions;
  /** How long a session whose connection dropped waits for the client to resume it, ms. */
  resumeWindowMs: number;
  /** Index of its first micro-turn: a session continued from the store goes on numbering. */
  firstMicroTurn?: number;
  /**
   * Called as the session ends, after its last event is appended and before the client hears
   * `closed`: makes the events durable and gives the session up (its lease), so a client that
   * reconnects at once, anywhere, finds everything.
   */
  handOff?: () => Promise<void>;
  /** The session's context from the store (compaction + conversation since), for the worker. */
  context?: string;
  /**
   * The session's context from the store as it is now (its events flushed first), to reopen it
   * on another worker when its own went away. Default: `context`.
   */
  rebuildContext?: () => Promise<string>;
  /**
   * Compacts the session's stored history (its worker's `window` is full) and returns the
   * context to rebuild from; runs off the real-time path.
   */
  compact?: (window: number) => Promise<{ compactionId: number; context: string } | undefined>;
  /** Background tasks, when the edge has a background runner. */
  delegation?: Delegation;
  /** How the client's audio is coded: Opus RTP (default), or linear PCM from an adapter. */
  codec?: AudioCodec;
  /** Tools the client offers the background model (a Realtime client's functions). */
  tools?: ToolHost;
}
