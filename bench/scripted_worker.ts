/**
 * A worker for benchmarks of the edge alone: the real worker link (routes/worker_link_route.ts)
 * over a real socket, with a scripted runtime in place of the model, so the model's cost stays
 * off the edge's measurement. Each session speaks for 1 s (the speech fixture, with its own
 * pauses), then is silent for 1 s, its phase set by its order of opening: the model speaks
 * about half the time, and sessions start speaking at unrelated times. By default each
 * micro-turn is answered as it arrives; with `stepEveryMs` the runtime answers, every that many
 * ms, all that arrived since (as a real worker steps every session it holds at once, so one
 * step's outputs reach the edge together).
 *
 * @module
 */
import { type LinkedRuntime, StatelessLinkedRuntime } from "../routes/worker_link_route.ts";
import type { MicroTurn, MicroTurnOutput } from "../protocol/worker_link.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import { speechFixture } from "../tests/support/speech_fixture.ts";

/** Micro-turns a session speaks, then is silent for. */
const SPEAK_TURNS = 5;
/** What a scripted step reports it took: it does no model work. */
export const SCRIPTED_STEP_MS = 0;

/** Answers micro-turns with scripted output and tells who asked when. */
export class ScriptedRuntime extends StatelessLinkedRuntime implements LinkedRuntime {
  readonly modelName = "scripted";
  readonly #phases = new Map<string, number>();
  readonly #blocks: Int16Array[];
  readonly #silence = new Int16Array(SAMPLES_PER_MICRO_TURN);
  #opened = 0;
  /** Told of every micro-turn as it arrives (`performance.now()`). */
  onTurn: (turn: MicroTurn, arrivedAt: number) => void = () => {};
  /** Told of every answer as it goes out, with how long its micro-turn waited for its step. */
  onAnswer: (turn: MicroTurn, waitedMs: number) => void = () => {};
  readonly #stepEveryMs: number;
  #held: {
    turn: MicroTurn;
    arrivedAt: number;
    answer: (output: MicroTurnOutput) => void;
  }[] = [];
  #stepper: ReturnType<typeof setInterval> | undefined;

  /** @param stepEveryMs answer in steps this far apart (0: each micro-turn as it arrives) */
  constructor(stepEveryMs = 0) {
    super();
    this.#stepEveryMs = stepEveryMs;
    const speech = speechFixture();
    this.#blocks = Array.from(
      { length: Math.floor(speech.length / SAMPLES_PER_MICRO_TURN) },
      (_, i) => speech.subarray(i * SAMPLES_PER_MICRO_TURN, (i + 1) * SAMPLES_PER_MICRO_TURN),
    );
  }

  open(sessionId: string): Promise<void> {
    this.#phases.set(sessionId, this.#opened++ % (2 * SPEAK_TURNS));
    return Promise.resolve();
  }

  run(turn: MicroTurn): Promise<MicroTurnOutput> {
    const arrivedAt = performance.now();
    this.onTurn(turn, arrivedAt);
    if (this.#stepEveryMs <= 0) return Promise.resolve(this.#answer(turn, arrivedAt));
    const held = Promise.withResolvers<MicroTurnOutput>();
    this.#held.push({ turn, arrivedAt, answer: held.resolve });
    this.#stepper ??= setInterval(() => this.#step(), this.#stepEveryMs);
    return held.promise;
  }

  /** Stops stepping (answers still held are dropped). */
  stop(): void {
    clearInterval(this.#stepper);
    this.#stepper = undefined;
    this.#held = [];
  }

  #step(): void {
    for (const { turn, arrivedAt, answer } of this.#held.splice(0)) {
      answer(this.#answer(turn, arrivedAt));
    }
  }

  #answer(turn: MicroTurn, arrivedAt: number): MicroTurnOutput {
    this.onAnswer(turn, performance.now() - arrivedAt);
    const phase = this.#phases.get(turn.sessionId) ?? 0;
    const speaking = (turn.index + phase) % (2 * SPEAK_TURNS) < SPEAK_TURNS;
    return {
      sessionId: turn.sessionId,
      index: turn.index,
      control: speaking ? "speak" : "silent",
      stepMs: SCRIPTED_STEP_MS,
      audio: speaking ? this.#blocks[turn.index % this.#blocks.length] : this.#silence,
      text: "",
    };
  }

  close(sessionId: string): void {
    this.#phases.delete(sessionId);
  }
}
