/**
 * The jitter buffer as a pipeline stage: `rtp` frames go into the {@linkcode JitterBuffer}
 * at their arrival time, `tick` frames advance its clock, and every micro-turn it closes
 * comes out as ten on-time `audio_slot` frames, its late frames (flagged `late`), and a
 * `turn_end`. Text and other frames pass through, joining the micro-turn that closes next.
 *
 * @module
 */
import type { IngressFrame } from "./ingress_frames.ts";
import { type ClosedTurn, JitterBuffer, type JitterBufferOptions } from "./jitter_buffer.ts";

/** Turns `rtp` and `tick` frames into closed micro-turns' slots; passes other frames on. */
export class JitterStream extends TransformStream<IngressFrame, IngressFrame> {
  /** The buffer, for its stats, acknowledgements and next deadline. */
  readonly buffer: JitterBuffer;

  /**
   * @param startMs wall time of media time 0 until audio says otherwise
   * @param options buffer tuning
   */
  constructor(startMs: number, options: JitterBufferOptions = {}) {
    const buffer = new JitterBuffer(startMs, options);
    const emit = (
      turns: ClosedTurn[],
      controller: TransformStreamDefaultController<IngressFrame>,
    ) => {
      for (const turn of turns) {
        for (const slot of turn.slots) {
          const { frame: frameIndex, payload, fill, nextPayload } = slot;
          controller.enqueue({ type: "audio_slot", frameIndex, payload, fill, nextPayload });
        }
        for (const late of turn.late) {
          controller.enqueue({
            type: "audio_slot",
            frameIndex: late.frame,
            payload: late.payload,
            late: true,
          });
        }
        controller.enqueue({
          type: "turn_end",
          index: turn.index,
          closedAtMs: turn.closedAtMs,
          addedDelayMs: turn.addedDelayMs,
        });
      }
    };
    super({
      transform(frame, controller) {
        if (frame.type === "rtp") {
          buffer.insert(frame.packet, frame.arrivalMs);
          emit(buffer.poll(frame.arrivalMs), controller);
        } else if (frame.type === "tick") {
          emit(buffer.poll(frame.nowMs), controller);
        } else {
          controller.enqueue(frame);
        }
      },
      flush(controller) {
        emit(buffer.flush(buffer.lastSeenMs), controller);
      },
    });
    this.buffer = buffer;
  }
}
