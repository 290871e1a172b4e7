import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { scoreSample, summarize } from "./duplex_metrics.ts";
import { speechSegments, VAD_WINDOW_SAMPLES } from "./silero_vad.ts";

const close = (actual: number | undefined, expected: number) =>
  assertEquals(Number(actual?.toFixed(3)), expected);

Deno.test("turn-taking: latency from the turn's end to the first answer, backchannels skipped", () => {
  const truth = { task: "smooth_turn_taking" as const, inputSeconds: 10, turnEnd: 5 };
  const answered = scoreSample(truth, [
    { start: 4.2, end: 4.8 }, // a backchannel over the user's words
    { start: 5.7, end: 8 },
  ]);
  assertEquals(answered.tor, 1);
  close(answered.latency, 0.7);
  // Speech of a turn's length already under way at the end: latency 0 (it barged in).
  assertEquals(scoreSample(truth, [{ start: 4, end: 6 }]).latency, 0);
  // Under 1 s of speech in all: no turn taken, no latency.
  assertEquals(scoreSample(truth, [{ start: 5.5, end: 6.2 }]), { tor: 0 });
  assertEquals(scoreSample(truth, []), { tor: 0 });
});

Deno.test("pause handling: speaking a turn's length before the user's speech ends takes over", () => {
  const truth = {
    task: "pause_handling" as const,
    inputSeconds: 8,
    pause: { start: 2, end: 3.5, speechEnd: 5 },
  };
  assertEquals(scoreSample(truth, [{ start: 2.7, end: 4 }]).tor, 1);
  assertEquals(scoreSample(truth, [{ start: 2.7, end: 3.2 }]).tor, 0);
  // An answer after the user finished is not taking over in the pause.
  assertEquals(scoreSample(truth, [{ start: 5.6, end: 8 }]).tor, 0);
});

Deno.test("interruption: stop latency from the interruption's start, answer after its end", () => {
  const truth = {
    task: "user_interruption" as const,
    inputSeconds: 12,
    interrupt: { start: 6, end: 7.5 },
  };
  const score = scoreSample(truth, [{ start: 4, end: 6.3 }, { start: 8.1, end: 10 }]);
  assertEquals(score.tor, 1);
  close(score.stopLatency, 0.3);
  close(score.latency, 0.6);
  // Not speaking when interrupted: no stop latency; kept talking through it: latency 0.
  const through = scoreSample(truth, [{ start: 6.5, end: 9 }]);
  assertEquals(through.stopLatency, undefined);
  assertEquals(through.latency, 0);
});

Deno.test("backchannel: short segments count until one takes the turn", () => {
  const truth = { task: "backchannel" as const, inputSeconds: 10 };
  const score = scoreSample(truth, [
    { start: 1, end: 1.5 },
    { start: 3, end: 3.4 },
    { start: 5, end: 9 },
    { start: 9.2, end: 9.5 },
  ]);
  assertEquals(score.tor, 1);
  close(score.backchannelFrequency, 0.2);
});

Deno.test("summaries: TOR mean, latency quantiles over the samples that have one", () => {
  const summary = summarize([
    { tor: 1, latency: 0.5 },
    { tor: 1, latency: 0.7 },
    { tor: 0 },
    { tor: 1, latency: 0.9, stopLatency: 0.2 },
  ]);
  assertEquals(summary.samples, 4);
  assertEquals(summary.tor, 0.75);
  assertEquals(summary.latency_p50_s, 0.7);
  assertEquals(summary.latency_p90_s, 0.86);
  assertEquals(summary.stop_latency_p50_s, 0.2);
  assertEquals(summary.stop_samples, 1);
  assertEquals(summary.backchannel_freq, null);
});

Deno.test("segmentation follows get_speech_timestamps: thresholds, short gaps, padding", () => {
  const at = (windows: number) => (windows * VAD_WINDOW_SAMPLES) / 16000;
  // 0-9 silence, 10-29 speech, 30-31 a 64 ms dip (shorter than 100 ms: same segment),
  // 32-49 speech, 50-59 silence, 60-63 speech (128 ms: too short), then silence.
  const p = new Float32Array(80);
  for (let w = 10; w < 50; w++) p[w] = w === 30 || w === 31 ? 0.1 : 0.9;
  for (let w = 60; w < 64; w++) p[w] = 0.9;
  const segments = speechSegments(p, 80 * VAD_WINDOW_SAMPLES);
  assertEquals(segments.length, 1);
  close(segments[0].start, Number((at(10) - 0.03).toFixed(3)));
  close(segments[0].end, Number((at(50) + 0.03).toFixed(3)));
});
