/**
 * A worker runtime for link tests: it holds every micro-turn until the test steps it, then
 * answers all of them at once, as a model step answers every session it batched.
 *
 * @module
 */
import { type LinkedRuntime, StatelessLinkedRuntime } from "../../routes/worker_link_route.ts";
import type { MicroTurn, MicroTurnOutput } from "../../protocol/worker_link.ts";
import { SAMPLES_PER_MICRO_TURN } from "../../protocol/media_format.ts";

/** Holds micro-turns until {@linkcode HeldRuntime.step}; answers each with `answer <index>`. */
export class HeldRuntime extends StatelessLinkedRuntime implements LinkedRuntime {
  readonly modelName = "held";
  readonly #samples: number;
  #held: { turn: MicroTurn; answer: (output: MicroTurnOutput) => void }[] = [];
  #waiting: { count: number; resolve: () => void } | undefined;

  /** @param samples PCM samples of each answer (a micro-turn's, unless told) */
  constructor(samples = SAMPLES_PER_MICRO_TURN) {
    super();
    this.#samples = samples;
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  run(turn: MicroTurn): Promise<MicroTurnOutput> {
    const { promise, resolve } = Promise.withResolvers<MicroTurnOutput>();
    this.#held.push({ turn, answer: resolve });
    if (this.#waiting && this.#held.length >= this.#waiting.count) this.#waiting.resolve();
    return promise;
  }

  /** Resolves once `count` micro-turns are held. */
  holding(count: number): Promise<void> {
    if (this.#held.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting = { count, resolve };
    return promise;
  }

  /** Answers every micro-turn held, in the order they came. */
  step(): void {
    for (const { turn, answer } of this.#held.splice(0)) {
      answer({
        sessionId: turn.sessionId,
        index: turn.index,
        control: "speak",
        stepMs: 1,
        audio: new Int16Array(this.#samples),
        text: `answer ${turn.index}`,
      });
    }
  }

  close(): void {}
}
