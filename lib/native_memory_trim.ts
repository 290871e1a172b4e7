/**
 * Gives memory the C allocator holds after it was freed back to the operating system.
 *
 * glibc's malloc keeps freed chunks in its heap for reuse and returns only the heap's top to the
 * system, so a process that once held many connections' native buffers (sockets, WebSocket
 * frames, request bodies) stays at its peak resident size long after they closed: after the
 * soak (200 abusive connections for a minute) an edge kept ~300 MB of `[heap]` that was all
 * free. `malloc_trim(0)` returns every free page of every arena. It is called through Deno's FFI
 * on a thread of its own (`nonblocking`), so the event loop goes on meanwhile.
 *
 * Linux with glibc, and a process allowed FFI, only; elsewhere {@linkcode NativeMemoryTrimmer.open}
 * returns `undefined` and nothing is trimmed.
 *
 * @module
 */
import type { Logger } from "./logger.ts";

const LIBC = "libc.so.6";
const SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

/** glibc's `malloc_trim`, called off the event loop. */
export class NativeMemoryTrimmer {
  #library: Deno.DynamicLibrary<typeof SYMBOLS>;
  #running: Promise<boolean> | undefined;

  private constructor(library: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#library = library;
  }

  /**
   * The trimmer of this process, or `undefined` where there is none: not Linux with glibc, or
   * FFI not allowed (`--allow-ffi`).
   */
  static open(): NativeMemoryTrimmer | undefined {
    if (!Deno.build.target.endsWith("-linux-gnu")) return undefined;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
    try {
      return new NativeMemoryTrimmer(Deno.dlopen(LIBC, SYMBOLS));
    } catch {
      return undefined;
    }
  }

  /**
   * Returns free heap pages to the system. Resolves whether any memory was released; a call
   * while one runs shares it.
   */
  trim(): Promise<boolean> {
    this.#running ??= this.#library.symbols.malloc_trim(0n).then((released) => {
      this.#running = undefined;
      return released === 1;
    });
    return this.#running;
  }

  /** Unloads the library (after any trim in flight). */
  async close(): Promise<void> {
    await this.#running;
    this.#library.close();
  }
}

/**
 * Trims every `intervalSeconds` until `signal` aborts (0: never). Logs each trim that released
 * memory at debug level, with how long it took.
 */
export function trimNativeMemoryEvery(
  intervalSeconds: number,
  signal: AbortSignal,
  log: Logger,
): void {
  if (intervalSeconds <= 0 || signal.aborted) return;
  const trimmer = NativeMemoryTrimmer.open();
  if (!trimmer) {
    log.debug("native memory trim unavailable (needs Linux with glibc and --allow-ffi)");
    return;
  }
  const timer = setInterval(async () => {
    const started = performance.now();
    if (await trimmer.trim()) {
      log.debug("native memory trimmed", { ms: Math.round(performance.now() - started) });
    }
  }, intervalSeconds * 1000);
  Deno.unrefTimer(timer);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    trimmer.close();
  }, { once: true });
}
