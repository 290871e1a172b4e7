/**
 * What batching a step's frames saves on the worker link: a worker (the real link route, a
 * held runtime in place of the model) answers every session's micro-turn at once, as a model
 * step does, to two edge-side links of `ws` clients (the edge's link client) in this process,
 * one that asked for batches and one that did not. Each step's outputs are ~500 bytes (the
 * size of an Opus output's first part). Steps alternate between the two links, so both sides
 * of the ratio share the machine's state. Per step: this process's CPU (the worker's sends and
 * the edge's reads and decodes together) and the wall time from the step to the last output
 * decoded. Writes bench/results/link-batch.json.
 *
 *   deno run -A bench/link_batch_bench.ts [--sessions=256] [--steps=800]
 *
 * @module
 */
import process from "node:process";
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { serveWorkerLink } from "../routes/worker_link_route.ts";
import { HeldRuntime } from "../tests/support/held_runtime.ts";
import { randomMicroTurn } from "../tests/support/micro_turns.ts";
import { seededRandom } from "../lib/seeded_random.ts";
import { decodeLinkFrame, encodeLinkFrame } from "../protocol/worker_link.ts";
import { LINK_BATCHES_PARAMETER, linkFramesIn } from "../protocol/link_batch.ts";
// @deno-types="@types/ws"
import { WebSocket as NodelayWebSocket } from "ws";

const sessions = numberFlag("sessions", 256);
const steps = numberFlag("steps", 800);
/** Steps first run to warm the JIT up, not measured. */
const WARMUP_STEPS = 100;
/** PCM samples an answer carries: 250 samples, 500 bytes, about an Opus output's first part. */
const ANSWER_SAMPLES = 250;

const runtime = new HeldRuntime(ANSWER_SAMPLES);
const worker = serveWorkerLink(runtime, "127.0.0.1", undefined, { encodeThreads: 0 });

/** One edge-side link with its sessions open. */
interface Link {
  name: string;
  socket: NodelayWebSocket;
  sessions: string[];
  messages: number;
  frames: number;
  wake: () => void;
}

async function connect(name: string, batches: boolean): Promise<Link> {
  const url = new URL(worker.linkUrl);
  if (batches) url.searchParams.set(LINK_BATCHES_PARAMETER, "1");
  const socket = new NodelayWebSocket(url);
  socket.binaryType = "arraybuffer";
  const link: Link = { name, socket, sessions: [], messages: 0, frames: 0, wake: () => {} };
  socket.onmessage = (event) => {
    link.messages++;
    // What the edge's link client does with a message.
    for (const bytes of linkFramesIn(new Uint8Array(event.data as ArrayBuffer))) {
      decodeLinkFrame(bytes);
      link.frames++;
    }
    link.wake();
  };
  await new Promise((resolve) => socket.onopen = resolve);
  for (let i = 0; i < sessions; i++) {
    const sessionId = crypto.randomUUID();
    link.sessions.push(sessionId);
    socket.send(encodeLinkFrame({ type: "open", sessionId, index: 0, body: {} }));
  }
  await framesIn(link, sessions);
  return link;
}

/** Waits for `count` frames on `link`; returns how many messages brought them. */
async function framesIn(link: Link, count: number): Promise<number> {
  while (link.frames < count) await new Promise<void>((wake) => link.wake = wake);
  const messages = link.messages;
  link.frames = 0;
  link.messages = 0;
  return messages;
}

const random = seededRandom(1);
const links = [await connect("batched", true), await connect("one_by_one", false)];
const measured = new Map(
  links.map((
    link,
  ) => [link.name, { cpuMs: [] as number[], wallMs: [] as number[], messages: [] as number[] }]),
);
for (let step = 0; step < steps; step++) {
  const link = links[step % 2];
  for (const sessionId of link.sessions) {
    link.socket.send(
      encodeLinkFrame({ type: "micro_turn", turn: randomMicroTurn(sessionId, step, random) }),
    );
  }
  await runtime.holding(sessions);
  const cpu = process.cpuUsage();
  const start = performance.now();
  runtime.step();
  const messages = await framesIn(link, sessions);
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  if (step < WARMUP_STEPS) continue;
  const into = measured.get(link.name)!;
  into.cpuMs.push((used.user + used.system) / 1000);
  into.wallMs.push(wallMs);
  into.messages.push(messages);
}
for (const link of links) link.socket.close();
await worker.close();

const summary = Object.fromEntries(
  [...measured].map(([name, m]) => [name, {
    cpu_ms_per_step_p50: Number(quantile(m.cpuMs, 0.5).toFixed(3)),
    wall_ms_per_step_p50: Number(quantile(m.wallMs, 0.5).toFixed(3)),
    wall_ms_per_step_p99: Number(quantile(m.wallMs, 0.99).toFixed(3)),
    messages_per_step_p50: quantile(m.messages, 0.5),
  }]),
);
const result = {
  machine: machineDescription(),
  sessions,
  steps,
  answer_bytes: 2 * ANSWER_SAMPLES,
  ...summary,
  cpu_ratio_batched_to_one_by_one: Number(
    (summary.batched.cpu_ms_per_step_p50 / summary.one_by_one.cpu_ms_per_step_p50).toFixed(3),
  ),
  wall_ratio_batched_to_one_by_one: Number(
    (summary.batched.wall_ms_per_step_p50 / summary.one_by_one.wall_ms_per_step_p50).toFixed(3),
  ),
};
console.log(JSON.stringify(result, null, 2));
await writeResult("link-batch.json", result);
