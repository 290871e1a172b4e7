/**
 * Where a step's time goes between moving data and computing: the float16 `base` reference model
 * as the worker builds it for WebGPU, stepped with the micro-turns' inputs and outputs bound in
 * host memory and everything rebound each step (`worker`, what the worker does), only the inputs
 * rebound (`host_rebound`: ONNX Runtime copies a host input to the device when it is bound), bound
 * once (`host`), or only the control logits read back (inputs on the host or on the device); then
 * with the session's symbolic dimensions fixed (`static_shapes`: shape computations fold away),
 * and that with WebGPU graph capture (`captured`, where the provider allows it; each replay
 * followed by a one-element run that waits for the device, timed alone as `sync_alone`). The forms take
 * turns step by step. The inputs are zeros: the work per step is that of real micro-turns, the
 * numbers are not looked at. The key/value cache is on the device in every form. ONNX Runtime's
 * warnings go to stderr.
 *
 *   deno run -A bench/step_io_probe.ts --ep=webgpu [--sessions=1,64,256] [--device=NAME]
 *     [--log-severity=0] (0 logs, among much else, which provider each node was placed on)
 *
 * Writes `bench/results/step-io-<ep>.json`: per session count, the median step of each form
 * (`captured` null, and `capture_refused` saying why, when the provider refuses to capture).
 *
 * @module
 */
import { flag, quantile, writeResult } from "./bench_support.ts";
import { buildReferenceModel } from "../gpu-worker/model/reference_model.ts";
import { referenceOptionsFor } from "../gpu-worker/worker_server.ts";
import { OnnxGraphBuilder } from "../gpu-worker/model/onnx_graph_builder.ts";
import { checkContract } from "../gpu-worker/model/contract_check.ts";
import {
  layerTensorName,
  modelInputs,
  modelOutputs,
  type TensorSpec,
} from "../gpu-worker/model/model_contract.ts";
import {
  type ExecutionProvider,
  OrtModelSession,
  type OrtTensor,
} from "../gpu-worker/ort/ort_session.ts";
import { type ElementTypeName, OrtCallError, tensorBytes } from "../gpu-worker/ort/ort_api.ts";

const ep = (flag("ep") ?? "webgpu") as ExecutionProvider;
const counts = (flag("sessions") ?? "1,64,256").split(",").map(Number);
const built = buildReferenceModel("base", 1, referenceOptionsFor("webgpu"));
const geometry = checkContract(built.bytes);

/** The contract's tensors with their layers spelled out. */
const expand = (specs: readonly TensorSpec[]) =>
  specs.flatMap((spec) =>
    spec.name.includes("{layer}")
      ? Array.from(
        { length: geometry.layers },
        (_, l) => ({ ...spec, name: layerTensorName(spec.name, l) }),
      )
      : [spec]
  );

/**
 * Where a form keeps the step's inputs and outputs (the cache is always on the device). A GPU
 * provider returns from a run once its work is queued; only an output read back to the host
 * waits for it, so every form reads at least the control logits (12 bytes a session) back.
 */
const FORMS = {
  worker: { inputs: "host", outputs: "host", rebind: "all" },
  host_rebound: { inputs: "host", outputs: "host", rebind: "inputs" },
  host: { inputs: "host", outputs: "host", rebind: "none" },
  host_inputs: { inputs: "host", outputs: "control", rebind: "none" },
  device: { inputs: "device", outputs: "control", rebind: "none" },
} as const;
type FormName = keyof typeof FORMS;

/**
 * A session with one binding per form over one zeroed cache, `batch` sessions of one micro-turn;
 * `fixed`: its symbolic dimensions fixed to those sizes (static shapes), `capture`: and graph
 * capture asked for.
 */
function prepare(
  batch: number,
  session: { fixed: boolean; capture: boolean },
  forms: readonly FormName[],
) {
  const sizes: Record<string, number> = {
    batch,
    turns: 1,
    images: 1,
    slots: batch,
    cache_rows: batch * geometry.heads * geometry.cacheLength,
  };
  const ort = OrtModelSession.create(built.bytes, {
    executionProvider: ep,
    providerOptions: session.capture ? { enableGraphCapture: "1" } : {},
    fixedDimensions: session.fixed ? sizes : undefined,
    logSeverity: Number(flag("log-severity") ?? 2) as 0 | 1 | 2 | 3 | 4,
  });
  sizes["cache:head_size"] = geometry.headSize;
  sizes["cache:key_features"] = geometry.heads * geometry.headSize;
  sizes["cache:cache_length"] = geometry.cacheLength;
  const owned: OrtTensor[] = [];
  const tensor = (spec: TensorSpec, where: "host" | "device") => {
    const type = (spec.type === "cache" ? geometry.cacheType : spec.type) as ElementTypeName;
    const dims = spec.dims.map((d) => typeof d === "number" ? d : sizes[d]);
    const made = where === "device"
      ? ort.deviceTensor(type, dims)
      : ort.hostTensor(new Uint8Array(tensorBytes(type, dims)), type, dims);
    owned.push(made);
    return made;
  };
  const cache = new Map(
    expand(modelInputs(geometry.keyLayout)).filter((spec) => spec.type === "cache").map((
      spec,
    ) => [spec.name, tensor(spec, "device")]),
  );
  const bindings = forms.map((form) => {
    const binding = ort.binding();
    const inputs = expand(modelInputs(geometry.keyLayout)).map((spec) =>
      [spec.name, cache.get(spec.name) ?? tensor(spec, FORMS[form].inputs)] as const
    );
    const outputs = expand(modelOutputs(geometry.keyLayout)).map((spec) => {
      const past = cache.get(spec.name.replace("present_", "past_"));
      const host = FORMS[form].outputs === "host" || spec.name === "control_logits";
      return [spec.name, past ?? tensor(spec, host ? "host" : "device")] as const;
    });
    const bind = (which: "all" | "inputs") => {
      if (which === "all") binding.clear();
      for (const [name, t] of inputs) {
        if (which === "all" || !cache.has(name)) binding.input(name, t);
      }
      if (which === "all") { for (const [name, t] of outputs) binding.output(name, t); }
    };
    bind("all");
    const rebind = FORMS[form].rebind;
    return {
      binding,
      /** One step as the form takes it: what it rebinds, then the run. */
      step: () => {
        if (rebind !== "none") bind(rebind);
        return binding.run();
      },
    };
  });
  return {
    bindings,
    release() {
      for (const { binding } of bindings) binding.release();
      for (const made of owned) made.release();
      ort.release();
    },
  };
}

/**
 * A replayed graph returns before the device has run it, and its outputs stay on the device: a
 * one-element run with a host output, on the same device queue, waits for everything before it.
 */
function deviceSync() {
  const g = new OnnxGraphBuilder("device_sync");
  const x = g.input("x", "float32", [1]);
  g.node("Add", [x, x], {}, ["y"]);
  g.output("y", "float32", [1]);
  const ort = OrtModelSession.create(g.build(), { executionProvider: ep });
  const x0 = ort.hostTensor(new Float32Array(1), "float32", [1]);
  const y0 = ort.hostTensor(new Float32Array(1), "float32", [1]);
  const binding = ort.binding();
  binding.input("x", x0);
  binding.output("y", y0);
  return {
    run: () => binding.run(),
    release() {
      binding.release();
      x0.release();
      y0.release();
      ort.release();
    },
  };
}

const sync = deviceSync();
/** Why the provider refused to capture, when it did. */
let refused: string | undefined;
const rows = [];
const formNames = Object.keys(FORMS) as FormName[];
for (const batch of counts) {
  const uncaptured = prepare(batch, { fixed: false, capture: false }, formNames);
  const runs = uncaptured.bindings.map(({ step }, i) => ({ name: formNames[i] as string, step }));
  const fixed = prepare(batch, { fixed: true, capture: false }, ["device"]);
  runs.push({ name: "static_shapes", step: fixed.bindings[0].step });
  let captured: ReturnType<typeof prepare> | undefined;
  if (!refused) {
    try {
      captured = prepare(batch, { fixed: true, capture: true }, ["device"]);
      const replay = captured.bindings[0].step;
      runs.push({ name: "captured", step: () => replay().then(sync.run) });
      runs.push({ name: "sync_alone", step: sync.run });
    } catch (error) {
      if (!(error instanceof OrtCallError)) throw error;
      refused = error.message;
    }
  }
  // The forms take turns step by step, so a machine that speeds up or slows down meets them all.
  const times: number[][] = runs.map(() => []);
  for (let i = 0; i < 23; i++) {
    // Each round starts with another form, so none always follows the same one.
    for (let k = 0; k < runs.length; k++) {
      const f = (i + k) % runs.length;
      const started = performance.now();
      await runs[f].step();
      if (i >= 3) times[f].push(performance.now() - started);
    }
  }
  uncaptured.release();
  fixed.release();
  captured?.release();
  const row: Record<string, number | null> = { sessions: batch, captured: null };
  runs.forEach(({ name }, f) => row[name] = Number(quantile(times[f], 0.5).toFixed(3)));
  console.log(JSON.stringify(row));
  rows.push(row);
}
sync.release();
await writeResult(`step-io-${ep}.json`, {
  device: flag("device") ?? ep,
  model: built.name,
  unit: "median step, ms",
  capture_refused: refused ?? null,
  rows,
});
