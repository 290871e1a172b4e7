/**
 * A pipeline stage as a plain object: it handles one frame and emits zero or more frames to
 * the next stage, synchronously. A session's ingress stages (jitter buffer, decoder, dMel,
 * video patches, assembler) are chained into one stage and run inside one `TransformStream`
 * ({@linkcode stageStream}), so a frame crosses one stream hop, not one per stage: each hop
 * costs a write and a read, with their promises, per frame, and at the edge's packet rate
 * that garbage outlived the young generation and its collections stalled every session
 * (bench:sockets; see pipeline/ingress_pipeline.ts). Backpressure and errors stay those of
 * the one stream.
 *
 * @module
 */

/** Passes a frame to the next stage. */
export type Emit<Out> = (frame: Out) => void;

/** One processor of a pipeline: handles the frames it knows, passes the rest on. */
export interface FrameStage<In, Out> {
  /** Handles one frame; `emit` passes frames on, synchronously, in order. */
  transform(frame: In, emit: Emit<Out>): void;
  /** The input ended: emits what the stage still holds. */
  flush?(emit: Emit<Out>): void;
  /** Frees what the stage holds (codec state); called once, when the stream ends or is cancelled. */
  close?(): void;
}

/** Runs `first` then `second`: what `first` emits goes straight into `second`. */
function chainTwo<A, B, C>(first: FrameStage<A, B>, second: FrameStage<B, C>): FrameStage<A, C> {
  // The emit passed down is made once; the downstream emit is the caller's, remembered per call.
  let downstream: Emit<C> = () => {};
  const intoSecond: Emit<B> = (frame) => second.transform(frame, downstream);
  return {
    transform(frame, emit) {
      downstream = emit;
      first.transform(frame, intoSecond);
    },
    flush(emit) {
      downstream = emit;
      first.flush?.(intoSecond);
      second.flush?.(emit);
    },
    close() {
      try {
        first.close?.();
      } finally {
        second.close?.();
      }
    },
  };
}

/** Chains stages in order into one stage. */
export function chainStages<A, B, C>(
  a: FrameStage<A, B>,
  b: FrameStage<B, C>,
): FrameStage<A, C>;
/** Chains stages in order into one stage. */
export function chainStages<A, B, C, D>(
  a: FrameStage<A, B>,
  b: FrameStage<B, C>,
  c: FrameStage<C, D>,
): FrameStage<A, D>;
/** Chains stages in order into one stage. */
export function chainStages<A, B, C, D, E>(
  a: FrameStage<A, B>,
  b: FrameStage<B, C>,
  c: FrameStage<C, D>,
  d: FrameStage<D, E>,
): FrameStage<A, E>;
/** Chains stages in order into one stage. */
export function chainStages<A, B, C, D, E, F>(
  a: FrameStage<A, B>,
  b: FrameStage<B, C>,
  c: FrameStage<C, D>,
  d: FrameStage<D, E>,
  e: FrameStage<E, F>,
): FrameStage<A, F>;
export function chainStages(
  ...stages: FrameStage<unknown, unknown>[]
): FrameStage<unknown, unknown> {
  return stages.reduceRight((rest, stage) => chainTwo(stage, rest));
}

/**
 * A `TransformStream` that runs `stage`: each chunk written is transformed, everything the
 * stage emits is enqueued; the end of input flushes it; the end or a cancel closes it.
 */
export function stageStream<In, Out>(stage: FrameStage<In, Out>): TransformStream<In, Out> {
  let enqueue: Emit<Out> = () => {};
  return new TransformStream<In, Out>({
    start(controller) {
      enqueue = (frame) => controller.enqueue(frame);
    },
    transform(frame) {
      try {
        stage.transform(frame, enqueue);
      } catch (error) {
        stage.close?.(); // the stream errors: nothing will flush or cancel it
        throw error;
      }
    },
    flush() {
      try {
        stage.flush?.(enqueue);
      } finally {
        stage.close?.();
      }
    },
    cancel() {
      stage.close?.();
    },
  });
}
