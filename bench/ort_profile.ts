/**
 * Reading ONNX Runtime's profile (the JSON a session writes on release when created with a
 * profile prefix): the host's time per kernel and, on the WebGPU provider, the GPU timestamps
 * around each program it dispatched (`Api` events with the program's shapes).
 *
 * @module
 */

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
