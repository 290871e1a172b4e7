import assert from "node:assert/strict";
import { chainStages, type Emit, type FrameStage, stageStream } from "./frame_stage.ts";

/** Doubles each number and, at flush, emits what it saw; records when it was closed. */
class Doubler implements FrameStage<number, number> {
  seen = 0;
  closed = 0;
  transform(frame: number, emit: Emit<number>): void {
    if (frame < 0) throw new RangeError(`negative frame ${frame}`);
    this.seen++;
    emit(frame * 2);
  }
  flush(emit: Emit<number>): void {
    emit(this.seen);
  }
  close(): void {
    this.closed++;
  }
}

/** Holds every frame until flush, then emits them as one string. */
class Joiner implements FrameStage<number, string> {
  #held: number[] = [];
  closed = 0;
  transform(frame: number): void {
    this.#held.push(frame);
  }
  flush(emit: Emit<string>): void {
    emit(this.#held.join(","));
  }
  close(): void {
    this.closed++;
  }
}

async function run<Out>(stream: TransformStream<number, Out>, frames: number[]): Promise<Out[]> {
  const out: Out[] = [];
  const collected = stream.readable.pipeTo(new WritableStream({ write: (f) => void out.push(f) }));
  const writer = stream.writable.getWriter();
  try {
    for (const frame of frames) await writer.write(frame);
    await writer.close();
  } catch (error) {
    await collected.catch(() => {});
    throw error;
  }
  await collected;
  return out;
}

Deno.test("chained stages run in order, and a flush passes what one holds through the later ones", async () => {
  const first = new Doubler();
  const second = new Doubler();
  const last = new Joiner();
  const out = await run(stageStream(chainStages(first, second, last)), [1, 2, 3]);
  // The first stage's flush (3 frames seen) goes through the second before the second's own.
  assert.deepEqual(out, ["4,8,12,6,4"]);
  assert.deepEqual([first.closed, second.closed, last.closed], [1, 1, 1]);
});

Deno.test("a stage that throws errors the stream and closes every stage once", async () => {
  const first = new Doubler();
  const last = new Joiner();
  await assert.rejects(run(stageStream(chainStages(first, last)), [1, -1]), RangeError);
  assert.deepEqual([first.closed, last.closed], [1, 1]);
});

Deno.test("cancelling the stream closes every stage once", async () => {
  const first = new Doubler();
  const last = new Joiner();
  const stream = stageStream(chainStages(first, last));
  await stream.readable.cancel("client left");
  assert.deepEqual([first.closed, last.closed], [1, 1]);
});
