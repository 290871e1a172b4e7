/**
 * Runs the real `main.ts` as a child process for tests that need a whole process: graceful
 * shutdown, crash and restart.
 *
 * @module
 */

/** A running `main.ts`. */
export interface MainProcess {
  /** The edge's base URL. */
  url: string;
  /** The child process. */
  child: Deno.ChildProcess;
  /** Resolves when its stdout has ended (the process exited). */
  drained: Promise<void>;
}

/** Starts `main.ts` with `args` and waits until its edge listens. */
export async function startMain(
  args: string[],
  env: Record<string, string> = {},
): Promise<MainProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--port=0", "--worker-port=0", ...devModeUnlessSet(args)],
    cwd: new URL("../..", import.meta.url),
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // The edge prints its URL once it listens.
  let output = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`main.ts exited before listening:\n${output}`);
    output += value;
    url = /edge listening \{"url":"(http:[^"]+)"/.exec(output)?.[1];
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return { url, child, drained };
}

/** Kills the process if it still runs. */
export function killMain(main: MainProcess | undefined): void {
  try {
    main?.child.kill("SIGKILL");
  } catch { /* already exited */ }
}

/** A process running one role of `main.ts` on its own port. */
export interface RoleProcess {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Its HTTP base URL. */
  url: string;
  /** Its worker link endpoint (role `worker`). */
  linkUrl: string;
}

/**
 * Starts `main.ts` with `args` (a role) on a free 127.0.0.1 port with `env`; resolves once its
 * `/healthz` answers. `cpus` (a `taskset` list, e.g. `0`) pins it to those cores; `denoFlags`
 * go to `deno run` (e.g. V8 profiling). Its stdout is dropped unless `ROLE_STDOUT` is set in
 * this process's environment (V8's `--trace-gc` writes there).
 */
export async function startRole(
  args: string[],
  env: Record<string, string> = {},
  { cpus, denoFlags = [] }: { cpus?: string; denoFlags?: string[] } = {},
): Promise<RoleProcess> {
  const port = freePortBelowEphemeral();
  const deno = [
    Deno.execPath(),
    "run",
    "-A",
    ...denoFlags,
    "main.ts",
    `--port=${port}`,
    "--log-level=warn",
  ];
  args = devModeUnlessSet(args);
  // taskset execs Deno in its own process: the child's pid is the role's.
  const command = cpus ? ["taskset", "-c", cpus, ...deno] : deno;
  const child = new Deno.Command(command[0], {
    args: [...command.slice(1), ...args],
    cwd: new URL("../..", import.meta.url),
    env,
    stdout: Deno.env.get("ROLE_STDOUT") ? "inherit" : "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  // A child that exits before it answers (its port taken after all) must not pass for started
  // because something else answers on that port.
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  for (let waited = 0;; waited += 100) {
    if (waited > 60_000) throw new Error(`main.ts ${args.join(" ")} did not start`);
    if (exited) {
      throw new Error(`main.ts ${args.join(" ")} exited (${exited.code}) before it listened`);
    }
    try {
      const health = await fetch(`${url}/healthz`);
      await health.body?.cancel();
      if (health.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, linkUrl: `ws://127.0.0.1:${port}/v1/link` };
}

/**
 * A port free on 127.0.0.1 now, below the kernel's ephemeral range (32768-60999 on Linux). A
 * port the kernel hands out for `port: 0` was another test's to take between this probe and
 * the child's bind (tests run in parallel, and most listen on port 0): a child then failed with
 * AddrInUse while another test's edge answered its health check.
 */
function freePortBelowEphemeral(): number {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}

/** `args` with `--dev-mode=true` unless they say otherwise: tests run on loopback. */
function devModeUnlessSet(args: string[]): string[] {
  return args.some((a) => a.startsWith("--dev-mode=")) ? args : ["--dev-mode=true", ...args];
}
