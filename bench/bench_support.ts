/**
 * What every benchmark needs: its command-line flags, quantiles, and writing its result
 * under bench/results/ (or `BENCH_RESULTS_DIR`, e.g. `$OUT` on the device machine).
 *
 * @module
 */

/** The value of `--name=value`, if given. */
export function flag(name: string): string | undefined {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** The number given as `--name=value`, else `fallback`. */
export function numberFlag(name: string, fallback: number): number {
  return Number(flag(name) ?? fallback);
}

/** The `q` quantile of `values` (nearest rank, from a sorted copy). */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The machine a result came from: OS, architecture, core count and (on Linux) CPU model. */
export function machineDescription(): string {
  let model = "";
  try {
    const line = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m);
    if (line) model = `, ${line[1].trim()}`;
  } catch {
    // No /proc (not Linux): the core count says enough.
  }
  return `${Deno.build.os}-${Deno.build.arch}, ${navigator.hardwareConcurrency} cores${model}`;
}

/** The folder results go to: `BENCH_RESULTS_DIR`, else bench/results/. */
export function resultsDir(): string {
  return (Deno.env.get("BENCH_RESULTS_DIR") ?? new URL("./results/", import.meta.url).pathname)
    .replace(/\/$/, "");
}

/** Writes `result` as pretty JSON to `fileName` in the results folder. */
export async function writeResult(fileName: string, result: unknown): Promise<void> {
  await Deno.mkdir(resultsDir(), { recursive: true });
  await Deno.writeTextFile(
    `${resultsDir()}/${fileName}`,
    JSON.stringify(result, null, 2) + "\n",
  );
}

/**
 * Writes `fields` into `fileName`'s JSON object in the results folder, keeping its other fields
 * (two commands fill one file: `fuzz` and `soak` write security.json).
 */
export async function mergeResult(fileName: string, fields: object): Promise<void> {
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await Deno.readTextFile(`${resultsDir()}/${fileName}`));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await writeResult(fileName, { ...previous, ...fields });
}

/** Resident memory of process `pid`, MiB (from /proc). */
export async function residentMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const mib = (kB: number) => Math.round((kB / 1024) * 10) / 10;

/**
 * A process's resident memory by mapping, MiB, from `/proc/PID/smaps`: the 8 largest (a file's
 * name, `[heap]`, `anonymous`...) and `other`.
 */
export async function residentByMapping(pid: number): Promise<Record<string, number>> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps`);
  const byName = new Map<string, number>();
  let name = "anonymous";
  for (const line of text.split("\n")) {
    const header = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/);
    if (header) {
      const path = header[1].trim();
      name = path === "" ? "anonymous" : path.startsWith("[") ? path : path.split("/").at(-1)!;
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
  }
  const sorted = [...byName.entries()].sort((a, b) => b[1] - a[1]);
  const out: Record<string, number> = {};
  for (const [key, kB] of sorted.slice(0, 8)) out[key] = mib(kB);
  out.other = mib(sorted.slice(8).reduce((sum, [, kB]) => sum + kB, 0));
  return out;
}

/** A process's own account of its memory (`/metrics`' process_memory_bytes), MiB by kind. */
export async function reportedMemoryMiB(baseUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const kinds: Record<string, number> = {};
  for (const [, kind, bytes] of text.matchAll(/^process_memory_bytes\{kind="(\w+)"\} (\S+)$/gm)) {
    kinds[kind] = Math.round((Number(bytes) / 2 ** 20) * 10) / 10;
  }
  return kinds;
}
