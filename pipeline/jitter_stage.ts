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
import type { Emit, FrameStage } from "./frame_stage.ts";

/** Turns `rtp` and `tick` frames into closed micro-turns' slots; passes other frames on. */
export class JitterStage implements FrameStage<IngressFrame, IngressFrame> {
  /** The buffer, for its stats, acknowledgements and next deadline. */
  readonly buffer: JitterBuffer;

  /**
   * @param startMs wall time of media time 0 until audio says otherwise
   * @param options buffer tuning
   */
  constructor(startMs: number, options: JitterBufferOptions = {}) {
    this.buffer = new JitterBuffer(startMs, options);
  }

  /** Buffers `rtp`, closes what is due on `rtp` and `tick`, passes the rest on. */
  transform(frame: IngressFrame, emit: Emit<IngressFrame>): void {
    if (frame.type === "rtp") {
      this.buffer.insert(frame.packet, frame.arrivalMs);
      emitTurns(this.buffer.poll(frame.arrivalMs), emit);
    } else if (frame.type === "tick") {
      emitTurns(this.buffer.poll(frame.nowMs), emit);
    } else {
      emit(frame);
    }
  }

  /** Closes every micro-turn still open. */
  flush(emit: Emit<IngressFrame>): void {
    emitTurns(this.buffer.flush(this.buffer.lastSeenMs), emit);
  }
}

function emitTurns(turns: ClosedTurn[], emit: Emit<IngressFrame>): void {
  for (const turn of turns) {
    for (const slot of turn.slots) {
      const { frame: frameIndex, payload, fill, nextPayload } = slot;
      emit({ type: "audio_slot", frameIndex, payload, fill, nextPayload });
    }
    for (const late of turn.late) {
      emit({ type: "audio_slot", frameIndex: late.frame, payload: late.payload, late: true });
    }
    emit({
      type: "turn_end",
      index: turn.index,
      closedAtMs: turn.closedAtMs,
      addedDelayMs: turn.addedDelayMs,
    });
  }
}
