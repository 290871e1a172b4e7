import assert from "node:assert/strict";
import { EventQueue } from "./event_queue.ts";
import type { SessionEvent } from "./event_log.ts";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";

function event(n: number, kind = "micro_turn"): SessionEvent {
  return {
    kind,
    microTurn: kind === "micro_turn" ? n : undefined,
    wallTime: new Date(Date.UTC(2026, 10, 25, 10, 0, 0, n)),
    payload: { n, text: 'ünï 🎤 "quoted"' },
  };
}

/** The `n`s of a batch's rows, in order. */
function ns(document: string): number[] {
  return (JSON.parse(document) as { payload: { n: number } }[]).map((row) => row.payload.n);
}

Deno.test("queued events leave in order as rows of one JSON document, with each session's newest time and seq", () => {
  const queue = new EventQueue();
  for (let n = 0; n < 5; n++) queue.push(n % 2 ? B : A, n, event(n));
  queue.push(A, 5, event(5, "user_text"));
  assert.equal(queue.length, 6);
  const batch = queue.take(4)!;
  assert.equal(batch.size, 4);
  const rows = JSON.parse(batch.document);
  assert.deepEqual(rows[1], {
    session_id: B,
    seq: 1,
    micro_turn: 1,
    media_time_ms: null,
    wall_time: "2026-11-25T10:00:00.001Z",
    kind: "micro_turn",
    payload: { n: 1, text: 'ünï 🎤 "quoted"' },
  });
  assert.deepEqual(ns(batch.document), [0, 1, 2, 3]);
  assert.deepEqual(batch.sessions, [A, B]);
  assert.deepEqual(batch.highestSeq, [2, 3]);
  assert.deepEqual(batch.lastActive, ["2026-11-25T10:00:00.002Z", "2026-11-25T10:00:00.003Z"]);
  assert.equal(queue.length, 2);
  assert.throws(() => queue.take(1), /already out/);
  queue.settle();
  assert.deepEqual(ns(queue.take(10)!.document), [4, 5]);
  queue.settle();
  assert.equal(queue.take(10), undefined);
});

Deno.test("a failed batch goes back to the front, even after appends made the queue compact and grow", () => {
  const queue = new EventQueue();
  let seq = 0;
  for (; seq < 100; seq++) queue.push(A, seq, event(seq));
  const out = queue.take(60)!;
  // Enough appends while the batch is out to outgrow the arena and the arrays several times.
  for (; seq < 3000; seq++) queue.push(seq % 3 ? A : B, seq, event(seq));
  queue.restore();
  assert.equal(queue.length, 3000);
  const again = queue.take(1000)!;
  assert.equal(again.document.slice(0, out.document.length - 1), out.document.slice(0, -1));
  assert.equal(again.document.at(-1), "]");
  assert.deepEqual(ns(again.document), [...Array(1000).keys()]);
  queue.settle();
  // Batches leave while more come: the queue moves what is left to the front of its arrays.
  const taken: number[] = [];
  for (; seq < 9000; seq++) {
    queue.push(A, seq, event(seq));
    if (seq % 250 === 0) {
      taken.push(...ns(queue.take(200)!.document));
      queue.settle();
    }
  }
  taken.push(...ns(queue.take(9000)!.document));
  assert.deepEqual(taken, [...Array(8000).keys()].map((i) => i + 1000));
});

Deno.test("a session's queued events are counted and removed without disturbing the others", () => {
  const queue = new EventQueue();
  for (let n = 0; n < 12; n++) {
    queue.push(n % 3 ? A : B, n, event(n, n === 9 ? "user_text" : "micro_turn"));
  }
  assert.deepEqual(queue.queuedOf(B), { count: 4, lastMicroTurn: 6 });
  assert.deepEqual(queue.queuedOf(A), { count: 8, lastMicroTurn: 11 });
  assert.deepEqual(queue.queuedOf("none"), { count: 0, lastMicroTurn: -1 });
  queue.take(2);
  queue.remove(B);
  assert.equal(queue.has(B), false);
  assert.equal(queue.has(A), true);
  assert.equal(queue.length, 7);
  // The batch out (0, 1) is not the queue's to change: it comes back whole if it fails.
  queue.restore();
  assert.deepEqual(ns(queue.take(20)!.document), [0, 1, 2, 4, 5, 7, 8, 10, 11]);
});

Deno.test("text jsonb refuses (NUL, a lone surrogate) is replaced in the row, the rest kept", () => {
  const queue = new EventQueue();
  queue.push(A, 0, {
    kind: "user_text",
    wallTime: new Date(0),
    payload: { text: "a\0b\ud800c\\u0000" },
  });
  const [row] = JSON.parse(queue.take(1)!.document);
  assert.equal(row.payload.text, "a\ufffdb\ufffdc\\u0000");
});
