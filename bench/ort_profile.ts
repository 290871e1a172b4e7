/**
 * Reading ONNX Runtime's profile (the JSON a session writes on release when created with a
 * profile prefix): the host's time per kernel and, on the WebGPU provider, the GPU timestamps
 * around each program it dispatched (`Api` events with the program's shapes).
 *
 * @module
 */
import { type ExecutionProvider, InteractionModel } from "../gpu-worker/interaction_model.ts";
import type { BuiltModel } from "../gpu-worker/model/reference_model.ts";
import { flowNoise } from "../gpu-worker/flow_noise.ts";

/** A model loaded with ONNX Runtime's profiler on, and a full batch of sessions to step. */
export interface ProfiledBatch {
  /** The model (closing it writes the profile). */
  model: InteractionModel;
  /** The profile's prefix, for {@linkcode readOrtProfile} once the model is closed. */
  prefix: string;
  /** One step of every session, each bringing one silent micro-turn. */
  step(): Promise<unknown>;
  /** Releases the cache and closes the model (writing the profile). */
  close(): Promise<void>;
}

/** Loads `built` on `ep` with the profiler on and opens `batch` sessions in its cache. */
export async function profiledBatch(
  built: BuiltModel,
  ep: ExecutionProvider,
  batch: number,
): Promise<ProfiledBatch> {
  const prefix = await Deno.makeTempFile({ prefix: "ort-profile-" });
  // Dynamic shapes: the profiler sees the model's own session, not the static steps' buckets
  // (whose captured graphs replay without ONNX Runtime dispatching a kernel); a step dispatches
  // the same kernels either way.
  const model = await InteractionModel.load(built.bytes, {
    name: built.name,
    executionProvider: ep,
    profilePrefix: prefix,
    staticSteps: "off",
  });
  const cache = model.createCache(batch);
  const slots = Array.from({ length: batch }, () => cache.acquire());
  const turn = {
    dmel: new Uint8Array(1600),
    text: new Uint8Array(0),
    elapsedSeconds: 1,
    noise: flowNoise(1, 0),
  };
  return {
    model,
    prefix,
    step: () => model.step(slots.map((slot) => ({ slot, turns: [turn] })), cache),
    async close() {
      cache.release();
      await model.close();
    },
  };
}

/** One event of ONNX Runtime's profile (Chrome trace format). */
export interface OrtProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; provider?: string; shapes?: string };
}

/** One GPU program the WebGPU provider dispatched: its name, shapes and GPU time. */
export interface GpuDispatch {
  program: string;
  shapes: string;
  ms: number;
}

/** The events of the profile a session created with `prefix` wrote (`<prefix>_<date>.json`). */
export function readOrtProfile(prefix: string): OrtProfileEvent[] {
  const slash = prefix.lastIndexOf("/");
  const dir = prefix.slice(0, slash);
  const base = prefix.slice(slash + 1);
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith(`${base}_`));
  if (!file) throw new Deno.errors.NotFound(`no ONNX Runtime profile for ${prefix}`);
  return JSON.parse(Deno.readTextFileSync(`${dir}/${file.name}`));
}

/** The GPU programs in a profile (empty on providers without GPU timestamps). */
export function gpuDispatches(events: OrtProfileEvent[]): GpuDispatch[] {
  return events.filter((e) => e.cat === "Api" && e.args?.shapes !== undefined).map((e) => ({
    program: e.name.split("&").at(-1)!.replace(/_\d+$/, ""),
    shapes: e.args!.shapes!.trim(),
    ms: e.dur / 1000,
  }));
}
