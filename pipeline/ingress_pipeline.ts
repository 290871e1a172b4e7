/**
 * A session's ingress pipeline, top to bottom: RTP frames go through the adaptive jitter
 * buffer, which closes micro-turns on media time (jitter_stream), are decoded to 16 kHz PCM
 * with loss concealment (opus_decode), turned into dMel codes (dmel); the newest camera frame
 * of each micro-turn is cut into patches (video_patch); all is assembled into 200 ms
 * micro-turns (micro_turn_assembler). Text and video frames ride along the same streams and
 * join the micro-turn that closes next. `tick` frames move the clock: the caller writes one at
 * (or after) `jitter.nextDeadlineMs()`.
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { JitterStream } from "./jitter_stream.ts";
import type { JitterBuffer, JitterBufferOptions } from "./jitter_buffer.ts";
import { OpusDecodeStream } from "./opus_decode_stream.ts";
import { L16DecodeStream } from "./l16_decode_stream.ts";
import type { AudioCodec } from "../protocol/media_format.ts";
import { DmelStream } from "./dmel_stream.ts";
import { MicroTurnAssembler } from "./micro_turn_assembler.ts";
import { VideoPatchStream } from "./video_patch_stream.ts";
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
  /** How the session's audio packets are coded. Default Opus. */
  codec?: AudioCodec;
}

/** Builds a session's ingress pipeline. */
export function createIngressPipeline(options: IngressPipelineOptions): IngressPipeline {
  const jitter = new JitterStream(options.startMs, options);
  const readable = jitter.readable
    .pipeThrough(
      options.codec === "l16" ? new L16DecodeStream() : new OpusDecodeStream(options.onUndecodable),
    )
    .pipeThrough(new DmelStream())
    .pipeThrough(new VideoPatchStream(options.onMalformedVideo))
    .pipeThrough(new MicroTurnAssembler(options.sessionId));
  return { writable: jitter.writable, readable, jitter: jitter.buffer };
}
