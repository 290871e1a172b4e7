/**
 * A session's ingress pipeline, top to bottom: RTP frames go through the adaptive jitter
 * buffer, which closes micro-turns on media time (jitter_stage), are decoded to 16 kHz PCM
 * with loss concealment (opus_decode_stage), turned into dMel codes (dmel_stage); the newest
 * camera frame of each micro-turn is cut into patches (video_patch_stage); all is assembled
 * into 200 ms micro-turns (micro_turn_assembler). Text and video frames ride along the same
 * path and join the micro-turn that closes next. `tick` frames move the clock: the caller
 * writes one at (or after) `jitter.nextDeadlineMs()`.
 *
 * The stages run chained inside one `TransformStream` (frame_stage.ts): with one stream per
 * stage, a packet crossed six stream hops, and at 100 sessions their per-chunk promises and
 * queue entries were the edge's largest source of garbage surviving into the old generation
 * (24 MB/s), whose collections stalled every session for 50-90 ms every few seconds.
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { JitterStage } from "./jitter_stage.ts";
import type { JitterBuffer, JitterBufferOptions } from "./jitter_buffer.ts";
import { OpusDecodeStage } from "./opus_decode_stage.ts";
import { L16DecodeStage } from "./l16_decode_stage.ts";
import { DmelStage } from "./dmel_stage.ts";
import { MicroTurnAssembler } from "./micro_turn_assembler.ts";
import { VideoPatchStage } from "./video_patch_stage.ts";
import { chainStages, stageStream } from "./frame_stage.ts";
import type { MicroTurn } from "../protocol/worker_link.ts";

/** The two ends of a session's ingress pipeline and its jitter buffer. */
export interface IngressPipeline {
  /** Write `rtp`, `tick` and `text` frames here; close it to flush the last micro-turns. */
  writable: WritableStream<IngressFrame>;
  /** Micro-turns come out here, in order, with contiguous indices. */
  readable: ReadableStream<MicroTurn>;
  /** The jitter buffer: stats, acknowledged sequence, next deadline. */
  jitter: JitterBuffer;
}

/** Options for {@linkcode createIngressPipeline}. */
export interface IngressPipelineOptions extends JitterBufferOptions {
  /** The session. */
  sessionId: string;
  /** Wall time of media time 0 until the first packet anchors it. */
  startMs: number;
  /** Told about payloads libopus refused. */
  onUndecodable?: (error: unknown) => void;
  /** Told about camera frames that did not decode. */
  onMalformedVideo?: (error: unknown) => void;
}

/** Builds a session's ingress pipeline. */
export function createIngressPipeline(options: IngressPipelineOptions): IngressPipeline {
  const jitter = new JitterStage(options.startMs, options);
  const { writable, readable } = stageStream(chainStages(
    jitter,
    options.codec === "l16" ? new L16DecodeStage() : new OpusDecodeStage(options.onUndecodable),
    new DmelStage(),
    new VideoPatchStage(options.onMalformedVideo),
    new MicroTurnAssembler(options.sessionId),
  ));
  return { writable, readable, jitter: jitter.buffer };
}
