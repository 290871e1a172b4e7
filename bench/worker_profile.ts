/**
 * Where a model step's time goes: runs a few steps of the reference model with onnxruntime's
 * profiler on, then prints the costliest operators with the execution provider each ran on.
 * For finding CPU fallbacks and slow kernels on a GPU provider.
 *
 *   deno run -A bench/worker_profile.ts [--model=base] [--ep=webgpu] [--batch=1] [--steps=5]
 *
 * @module
 */
import { flag } from "./bench_support.ts";
import * as ort from "onnxruntime-node";
import {
  buildReferenceModel,
  type ReferenceModelSizeName,
} from "../gpu-worker/model/reference_model.ts";
import { REFERENCE_MODEL_SIZES } from "../gpu-worker/model/reference_model.ts";

const size = (flag("model") ?? "base") as ReferenceModelSizeName;
const ep = flag("ep") ?? "cpu";
const batch = Number(flag("batch") ?? "1");
const steps = Number(flag("steps") ?? "5");
const { layers, heads, width, window } = REFERENCE_MODEL_SIZES[size];
const headSize = width / heads;

const built = buildReferenceModel(size);
const prefix = await Deno.makeTempFile({ prefix: "ort-profile-" });
const session = await ort.InferenceSession.create(built.bytes, {
  executionProviders: [ep],
  enableProfiling: true,
  profileFilePrefix: prefix,
});
const kv = batch * heads * window * headSize;
const cache = Object.fromEntries(
  Array.from({ length: layers }, (_, l) =>
    ["keys", "values"].map((kind) => [
      `past_${kind}_${l}`,
      new ort.Tensor("float32", new Float32Array(kv), [batch, heads, window, headSize]),
    ])).flat(),
);
const feeds = {
  ...cache,
  dmel_codes: new ort.Tensor("int64", new BigInt64Array(batch * 1600), [batch, 1, 20, 80]),
  text_bytes: new ort.Tensor("int64", new BigInt64Array(batch * 32), [batch, 1, 32]),
  patches: new ort.Tensor("uint8", new Uint8Array(batch * 57600), [batch, 1, 12, 40, 40, 3]),
  image_present: new ort.Tensor("float32", new Float32Array(batch), [batch, 1]),
  elapsed_s: new ort.Tensor("float32", new Float32Array(batch), [batch, 1]),
  position: new ort.Tensor("int64", new BigInt64Array(batch), [batch]),
  past_mask: new ort.Tensor("float32", new Float32Array(batch * window).fill(1), [batch, window]),
  noise: new ort.Tensor("float32", new Float32Array(batch * 3200), [batch, 1, 10, 320]),
};
const wall: number[] = [];
for (let i = 0; i < steps; i++) {
  const started = performance.now();
  await session.run(feeds);
  wall.push(performance.now() - started);
}
session.endProfiling();
const dir = prefix.slice(0, prefix.lastIndexOf("/"));
const base = prefix.slice(prefix.lastIndexOf("/") + 1);
const file = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith(`${base}_`))!.name;
const events = JSON.parse(await Deno.readTextFile(`${dir}/${file}`)) as {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; provider?: string };
}[];
const byOp = new Map<string, { us: number; count: number }>();
for (const event of events) {
  if (event.cat !== "Node" || !event.name.endsWith("_kernel_time")) continue;
  const key = `${event.args?.op_name} @ ${event.args?.provider}`;
  const entry = byOp.get(key) ?? { us: 0, count: 0 };
  entry.us += event.dur;
  entry.count++;
  byOp.set(key, entry);
}
console.log(
  `${size} on ${ep}, batch ${batch}: step wall ms ${wall.map((w) => w.toFixed(1)).join(" ")}`,
);
const rows = [...byOp].sort((a, b) => b[1].us - a[1].us).slice(0, 20);
for (const [key, { us, count }] of rows) {
  console.log(
    `${(us / 1000 / steps).toFixed(2).padStart(9)} ms/step  ${
      String(count / steps).padStart(4)
    } nodes  ${key}`,
  );
}
await session.release();
