/**
 * Micro-turns for worker tests: random dMel codes (reproducible from the caller's random
 * source), 200 ms apart, no camera frame.
 *
 * @module
 */
import type { MicroTurn } from "../../protocol/worker_link.ts";

/** Micro-turn `index` of a session: its dMel codes drawn from `random`, with `text`. */
export function randomMicroTurn(
  sessionId: string,
  index: number,
  random: () => number,
  text = "",
): MicroTurn {
  return {
    sessionId,
    index,
    wallClockMs: 1_000_000 + index * 200,
    flags: 0,
    dmelFrames: 20,
    dmel: Uint8Array.from({ length: 1600 }, () => Math.floor(random() * 16)),
    frameOrigins: new Uint8Array(10),
    lateMediaMs: [],
    text,
    patchCount: 0,
    patches: new Uint8Array(0),
  };
}
