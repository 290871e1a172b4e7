/**
 * A scripted turn-taking policy that plugs into a worker the way the model's runtime does (the
 * worker link's {@linkcode LinkedRuntime}), so the interactivity benchmark can tell what the
 * serving system adds to a conversation's timing: the policy decides instantly on each
 * micro-turn, so every millisecond measured beyond its own thresholds is the system's.
 *
 * It hears the user through the micro-turn's dMel codes (a 10 ms frame is voiced when its
 * mean level stands 2 levels above the noise floor, which only unvoiced frames move), and:
 * - speaks its reply (eval/fixtures/policy_reply.wav) from the first sample of the output of
 *   the micro-turn in which the user has been silent for {@linkcode REPLY_AFTER_SILENCE_MS}
 *   after speaking;
 * - stops at once (that micro-turn's output is silent) when the user speaks while it does:
 *   {@linkcode VOICED_FRAMES_TO_STOP} voiced frames in a micro-turn;
 * - backchannels ("mm hmm") while the user speaks, once a user turn has gone on for
 *   {@linkcode BACKCHANNEL_AFTER_MS}, at most once per that long; never in a pause, which may
 *   be the turn's end (a reply due while it backchannels cuts the backchannel short).
 *
 * @module
 */
import { type LinkedRuntime, StatelessLinkedRuntime } from "../routes/worker_link_route.ts";
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  DMEL_HOP_MS,
  MICRO_TURN_MS,
  SAMPLES_PER_MICRO_TURN,
} from "../protocol/media_format.ts";
import { readWav } from "../lib/wav_file.ts";

/** User silence after which the policy replies, ms. */
export const REPLY_AFTER_SILENCE_MS = 600;
/** Voiced 10 ms frames in one micro-turn that make the policy stop speaking. */
export const VOICED_FRAMES_TO_STOP = 2;
/** A user turn this long earns a backchannel in its next short pause, ms. */
export const BACKCHANNEL_AFTER_MS = 3000;
/** A frame is voiced when its mean dMel level is this far above the noise floor. */
const VOICED_ABOVE_FLOOR = 2;
/** How fast the noise floor rises with each unvoiced frame above it, levels per frame. */
const FLOOR_RISE = 0.01;
/** The reply's words, sent as the output's text when it starts. */
export const POLICY_REPLY_TEXT =
  "Okay, I hear you. Let me think about that for a second, and then I will answer.";

function clip(name: string): Int16Array {
  return readWav(Deno.readFileSync(new URL(`./fixtures/${name}`, import.meta.url))).samples;
}

interface PolicySession {
  /** Media time the last voiced frame ended, ms (-Infinity: not yet). */
  lastVoicedMs: number;
  /** Media time the current user turn started, ms (NaN: no turn since the last reply). */
  turnStartMs: number;
  /** Media time of the last backchannel, ms. */
  lastBackchannelMs: number;
  /** What plays now, and how far it has played. */
  playing: { samples: Int16Array; at: number } | undefined;
  /** The quietest recent frame's mean level. */
  floor: number;
}

/** The scripted policy: one state per session, decisions per micro-turn. */
export class TurnTakingPolicy extends StatelessLinkedRuntime implements LinkedRuntime {
  /** Reported as the worker's model. */
  readonly modelName = "turn-taking-policy";
  readonly #sessions = new Map<string, PolicySession>();
  readonly #reply = clip("policy_reply.wav");
  readonly #backchannel = clip("policy_backchannel.wav");

  open(sessionId: string): Promise<void> {
    this.#sessions.set(sessionId, {
      lastVoicedMs: -Infinity,
      turnStartMs: NaN,
      lastBackchannelMs: -Infinity,
      playing: undefined,
      floor: Infinity,
    });
    return Promise.resolve();
  }

  run(turn: MicroTurn): Promise<MicroTurnOutput> {
    let session = this.#sessions.get(turn.sessionId);
    if (!session) {
      this.open(turn.sessionId);
      session = this.#sessions.get(turn.sessionId)!;
    }
    const turnStartMs = turn.index * MICRO_TURN_MS;
    const endMs = turnStartMs + MICRO_TURN_MS;
    let voiced = 0;
    for (let f = 0; f < DMEL_FRAMES_PER_MICRO_TURN; f++) {
      if (!this.#voiced(session, turn.dmel, f)) continue;
      voiced++;
      session.lastVoicedMs = turnStartMs + (f + 1) * DMEL_HOP_MS;
      if (Number.isNaN(session.turnStartMs)) session.turnStartMs = turnStartMs + f * DMEL_HOP_MS;
    }
    const silenceMs = endMs - session.lastVoicedMs;
    let text = "";
    const backchanneling = session.playing?.samples === this.#backchannel;
    if (session.playing && !backchanneling && voiced >= VOICED_FRAMES_TO_STOP) {
      session.playing = undefined; // interrupted: stop now
    } else if (
      (!session.playing || backchanneling) && !Number.isNaN(session.turnStartMs)
    ) {
      if (silenceMs >= REPLY_AFTER_SILENCE_MS) {
        session.playing = { samples: this.#reply, at: 0 };
        session.turnStartMs = NaN;
        text = POLICY_REPLY_TEXT;
      } else if (
        voiced > 0 &&
        session.lastVoicedMs - session.turnStartMs >= BACKCHANNEL_AFTER_MS &&
        endMs - session.lastBackchannelMs >= BACKCHANNEL_AFTER_MS
      ) {
        session.playing = { samples: this.#backchannel, at: 0 };
        session.lastBackchannelMs = endMs;
      }
    }
    const audio = new Int16Array(SAMPLES_PER_MICRO_TURN);
    const playing = session.playing;
    if (playing) {
      audio.set(playing.samples.subarray(playing.at, playing.at + SAMPLES_PER_MICRO_TURN));
      playing.at += SAMPLES_PER_MICRO_TURN;
      if (playing.at >= playing.samples.length) session.playing = undefined;
    }
    return Promise.resolve({
      sessionId: turn.sessionId,
      index: turn.index,
      control: playing ? "speak" : "silent",
      stepMs: 0,
      audio,
      text,
    });
  }

  close(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  /** Whether dMel frame `f` is voiced, updating the session's noise floor. */
  #voiced(session: PolicySession, dmel: Uint8Array, f: number): boolean {
    let sum = 0;
    for (let b = 0; b < DMEL_BINS; b++) sum += dmel[f * DMEL_BINS + b];
    const level = sum / DMEL_BINS;
    if (level >= session.floor + VOICED_ABOVE_FLOOR) return true;
    // Only quiet frames move the floor: it follows the room, never the voice.
    session.floor = Math.min(session.floor + FLOOR_RISE, level);
    return false;
  }
}
