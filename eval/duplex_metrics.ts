/**
 * Full-Duplex-Bench's metric definitions on voice-activity timelines. The benchmark scores
 * word timestamps from an ASR model; here the output's speech segments come from a VAD
 * (eval/silero_vad.ts), so where the benchmark counts words we can only measure time:
 *
 * - "takes the turn" (TOR = 1): the output's speech spans at least 1 s from its first onset to
 *   its last offset (the benchmark also counts > 3 words within a shorter span);
 * - smooth turn-taking: TOR over the whole output; latency = onset of the first output speech
 *   after the user's turn end, minus that end; 0 for speech of a turn's length (>= 1 s) under
 *   way at the end (the benchmark takes its first word, even a backchannel's that ended
 *   before the user did);
 * - pause handling: TOR over output that starts before the user's speech ends (the benchmark
 *   scores the whole output, which is the same when the sample ends with the user's speech);
 * - user interruption: the output from the end of the interruption on (the benchmark crops it
 *   there before ASR): TOR and latency after it; stop latency (Full-Duplex-Bench v1.5) = end of
 *   the output speech under way when the interruption starts, minus its start; undefined when
 *   the model was not speaking then;
 * - backchannel: output segments shorter than 3 s, in order, until one lasts longer (the
 *   model took the turn, TOR = 1); frequency = their count / the input's duration.
 *
 * @module
 */
import type { SpeechSegment } from "./silero_vad.ts";

/** The benchmark's tasks. */
export const DUPLEX_TASKS = [
  "pause_handling",
  "smooth_turn_taking",
  "backchannel",
  "user_interruption",
] as const;

/** One of {@linkcode DUPLEX_TASKS}. */
export type DuplexTask = typeof DUPLEX_TASKS[number];

/** Ground truth of one sample, seconds from the input's start. */
export interface SampleTruth {
  /** The task. */
  task: DuplexTask;
  /** Length of `input.wav`. */
  inputSeconds: number;
  /** Smooth turn-taking: where the user's turn ends. */
  turnEnd?: number;
  /** Pause handling: the pause; and where the user's speech ends, if known. */
  pause?: { start: number; end: number; speechEnd?: number };
  /** User interruption: the interrupting utterance. */
  interrupt?: { start: number; end: number };
}

/** One sample's score. */
export interface SampleScore {
  /** Took the turn (1) or not (0). */
  tor: 0 | 1;
  /** Response latency, s (when it took the turn and the task has one). */
  latency?: number;
  /** Stop latency after an interruption, s (when the model was speaking at its start). */
  stopLatency?: number;
  /** Backchannel task: backchannels per second. */
  backchannelFrequency?: number;
}

/** Speech spanning at least this long takes the turn, s. */
export const TURN_SPAN_SECONDS = 1;
/** A backchannel-task segment longer than this takes the turn, s. */
export const BACKCHANNEL_MAX_SECONDS = 3;

/** Whether `segments` (in order) take the turn. */
export function takesTurn(segments: SpeechSegment[]): boolean {
  return segments.length > 0 && segments.at(-1)!.end - segments[0].start >= TURN_SPAN_SECONDS;
}

/**
 * Latency of the response to a turn ending at `at`: the first segment that starts after `at`,
 * or starts before and goes on past it (0) unless it is shorter than a turn (a backchannel
 * over the user's last words).
 */
function responseLatency(segments: SpeechSegment[], at: number): number | undefined {
  const first = segments.find((s) =>
    s.start >= at || (s.end > at && s.end - s.start >= TURN_SPAN_SECONDS)
  );
  return first && Math.max(0, first.start - at);
}

/** Scores one sample's output speech `segments` (in order) against its ground truth. */
export function scoreSample(truth: SampleTruth, segments: SpeechSegment[]): SampleScore {
  switch (truth.task) {
    case "smooth_turn_taking": {
      const turnEnd = truth.turnEnd ?? truth.inputSeconds;
      if (!takesTurn(segments)) return { tor: 0 };
      return { tor: 1, latency: responseLatency(segments, turnEnd) };
    }
    case "pause_handling": {
      const speechEnd = truth.pause?.speechEnd ?? truth.inputSeconds;
      return { tor: takesTurn(segments.filter((s) => s.start < speechEnd)) ? 1 : 0 };
    }
    case "user_interruption": {
      const { start, end } = truth.interrupt ?? { start: 0, end: 0 };
      const speaking = segments.find((s) => s.start <= start && s.end > start);
      const after = segments
        .filter((s) => s.end > end)
        .map((s) => ({ start: Math.max(s.start, end), end: s.end }));
      const tor = takesTurn(after) ? 1 : 0;
      return {
        tor,
        latency: tor ? responseLatency(after, end) : undefined,
        stopLatency: speaking && speaking.end - start,
      };
    }
    case "backchannel": {
      let backchannels = 0;
      let tor: 0 | 1 = 0;
      for (const segment of segments) {
        if (segment.end - segment.start > BACKCHANNEL_MAX_SECONDS) {
          tor = 1;
          break;
        }
        backchannels++;
      }
      return { tor, backchannelFrequency: backchannels / truth.inputSeconds };
    }
  }
}

/** A task's scores over samples, as bench/results/duplex.json rows hold them. */
export interface TaskSummary {
  /** Samples scored. */
  samples: number;
  /** Mean TOR. */
  tor: number;
  /** Median response latency, s (null: none took the turn). */
  latency_p50_s: number | null;
  /** 90th percentile response latency, s. */
  latency_p90_s: number | null;
  /** Mean response latency, s (what the benchmark's scripts print). */
  latency_mean_s: number | null;
  /** Median stop latency, s (null: the model was never speaking when interrupted). */
  stop_latency_p50_s: number | null;
  /** Samples whose stop latency was measured. */
  stop_samples: number;
  /** Mean backchannels per second (null outside the backchannel task). */
  backchannel_freq: number | null;
}

/** Linear-interpolated quantile `q` of `values` (null when empty). */
export function quantileOf(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

/** Summarizes one task's sample scores. */
export function summarize(scores: SampleScore[]): TaskSummary {
  const defined = (values: (number | undefined)[]) =>
    values.filter((v): v is number => v !== undefined);
  const latencies = defined(scores.map((s) => s.latency));
  const stops = defined(scores.map((s) => s.stopLatency));
  const frequencies = defined(scores.map((s) => s.backchannelFrequency));
  const mean = (values: number[]) =>
    values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  const round = (x: number | null) => x === null ? null : Number(x.toFixed(3));
  return {
    samples: scores.length,
    tor: round(mean(scores.map((s) => s.tor))) ?? 0,
    latency_p50_s: round(quantileOf(latencies, 0.5)),
    latency_p90_s: round(quantileOf(latencies, 0.9)),
    latency_mean_s: round(mean(latencies)),
    stop_latency_p50_s: round(quantileOf(stops, 0.5)),
    stop_samples: stops.length,
    backchannel_freq: round(mean(frequencies)),
  };
}
