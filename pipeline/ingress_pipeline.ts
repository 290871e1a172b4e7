/**
 * A session's ingress pipeline, top to bottom: RTP frames are put in order (packet_order),
 * decoded to 16 kHz PCM with loss concealment (opus_decode), turned into dMel codes (dmel)
 * and assembled into 200 ms micro-turns (micro_turn_assembler). Text frames ride along the
 * same streams and join the micro-turn open when they arrive.
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import {
  type PacketOrderOptions,
  type PacketOrderStats,
  PacketOrderStream,
} from "./packet_order_stream.ts";
import { OpusDecodeStream } from "./opus_decode_stream.ts";
import { DmelStream } from "./dmel_stream.ts";
import { MicroTurnAssembler } from "./micro_turn_assembler.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";
import type { Clock } from "../lib/clock.ts";

/** The two ends of a session's ingress pipeline and its counters. */
export interface IngressPipeline {
  /** Write `rtp` and `text` frames here; close it to flush the last micro-turn. */
  writable: WritableStream<IngressFrame>;
  /** Micro-turns come out here, in order. */
  readable: ReadableStream<MicroTurn>;
  /** Ordering counters. */
  orderStats: PacketOrderStats;
}

/** Options for {@linkcode createIngressPipeline}. */
export interface IngressPipelineOptions extends PacketOrderOptions {
  /** The session. */
  sessionId: string;
  /** Stamps micro-turns. */
  clock: Clock;
  /** Told about payloads libopus refused. */
  onUndecodable?: (error: unknown) => void;
}

/** Builds a session's ingress pipeline. */
export function createIngressPipeline(options: IngressPipelineOptions): IngressPipeline {
  const order = new PacketOrderStream(options);
  const readable = order.readable
    .pipeThrough(new OpusDecodeStream(options.onUndecodable))
    .pipeThrough(new DmelStream())
    .pipeThrough(new MicroTurnAssembler(options.sessionId, options.clock));
  return { writable: order.writable, readable, orderStats: order.stats };
}
