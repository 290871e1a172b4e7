/**
 * Server-side voice activity for the Realtime API's `server_vad`: the level of each 20 ms frame
 * of the 16 kHz input against a threshold, speech declared after 60 ms above it and ended after
 * `silenceMs` below it. Times are media time of the input buffer, in ms.
 *
 * @module
 */
import { AUDIO_FRAME_MS } from "../../protocol/media_format.ts";

/** A change of the user's speaking state. */
export type SpeechChange = { kind: "started"; atMs: number } | { kind: "stopped"; atMs: number };

/** Frames above the threshold before speech counts as started. */
const ONSET_FRAMES = 3;

/** Detects where speech starts and stops in a stream of 20 ms frames. */
export class SpeechDetector {
  readonly #thresholdDbfs: number;
  readonly #silenceMs: number;
  readonly #prefixMs: number;
  #mediaMs = 0;
  #loud = 0;
  #quietMs = 0;
  #speaking = false;

  /**
   * @param threshold the protocol's 0..1 threshold: 0.5 is -45 dBFS, each 0.1 is 6 dB
   * @param silenceMs quiet this long ends speech
   * @param prefixMs a start is dated this much before it was detected
   */
  constructor(threshold = 0.5, silenceMs = 500, prefixMs = 300) {
    this.#thresholdDbfs = -45 + (threshold - 0.5) * 60;
    this.#silenceMs = silenceMs;
    this.#prefixMs = prefixMs;
  }

  /** Whether the user is speaking now. */
  get speaking(): boolean {
    return this.#speaking;
  }

  /** Takes the next 20 ms frame; returns a change, if this frame made one. */
  push(frame: Int16Array): SpeechChange | undefined {
    let energy = 0;
    for (let i = 0; i < frame.length; i++) energy += frame[i] * frame[i];
    const dbfs = 10 * Math.log10(energy / frame.length / 32768 ** 2 + 1e-12);
    const at = this.#mediaMs;
    this.#mediaMs += AUDIO_FRAME_MS;
    if (dbfs >= this.#thresholdDbfs) {
      this.#loud++;
      this.#quietMs = 0;
      if (!this.#speaking && this.#loud >= ONSET_FRAMES) {
        this.#speaking = true;
        const onset = at - (ONSET_FRAMES - 1) * AUDIO_FRAME_MS;
        return { kind: "started", atMs: Math.max(0, onset - this.#prefixMs) };
      }
      return undefined;
    }
    this.#loud = 0;
    if (!this.#speaking) return undefined;
    this.#quietMs += AUDIO_FRAME_MS;
    if (this.#quietMs < this.#silenceMs) return undefined;
    this.#speaking = false;
    return { kind: "stopped", atMs: this.#mediaMs - this.#quietMs };
  }
}
