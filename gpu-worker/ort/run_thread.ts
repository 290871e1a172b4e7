/**
 * One thread that runs every CUDA session's I/O bindings. ONNX Runtime's CUDA provider keeps
 * a captured CUDA graph (and its cuBLAS handles) per calling thread: a run on a thread that
 * has not captured the graph runs the graph's kernels one by one, then captures again. Deno's
 * nonblocking FFI calls land on whichever thread of its blocking pool is free, so a static
 * step would rarely find its graph. Runs go instead to one worker thread (a Deno `Worker`)
 * that calls `RunWithBinding` synchronously: the main event loop still never waits on a run,
 * and every run of a session happens on the same thread. The thread starts with the first
 * session that runs on it (every CUDA session) and ends with the last one's release.
 *
 * @module
 */
import { OrtCallError } from "./ort_api.ts";

/** A run asked of the thread: pointers as numbers (they cross threads as plain values). */
export interface RunRequest {
  /** Request id, echoed in the reply. */
  id: number;
  /** `OrtSession*`. */
  session: bigint;
  /** `OrtIoBinding*`. */
  binding: bigint;
}

/** The thread's reply: `error` set when a call failed. */
export interface RunReply {
  /** The request's id. */
  id: number;
  /** The failed call, ONNX Runtime's error code and message. */
  error?: { call: string; code: number; message: string };
}

/** The run thread of one ONNX Runtime library; see the module doc. */
export class OrtRunThread {
  static readonly #threads = new Map<string, OrtRunThread>();
  readonly #libraryPath: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, PromiseWithResolvers<void>>();
  #nextId = 0;
  #users = 0;

  private constructor(libraryPath: string) {
    this.#libraryPath = libraryPath;
    this.#worker = new Worker(new URL("./run_thread_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.postMessage({ libraryPath });
    this.#worker.onmessage = (event: MessageEvent<RunReply>) => {
      const { id, error } = event.data;
      const pending = this.#pending.get(id);
      if (!pending) return;
      this.#pending.delete(id);
      if (error) pending.reject(new OrtCallError(error.call, error.code, error.message));
      else pending.resolve();
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#rejectPending(new Error(`the run thread failed: ${event.message}`));
    };
  }

  /** Run threads running now (one per library in use by a session that runs on one). */
  static get live(): number {
    return OrtRunThread.#threads.size;
  }

  /** The library's run thread, started if need be; each call must be paired with a release. */
  static acquire(libraryPath: string): OrtRunThread {
    let thread = OrtRunThread.#threads.get(libraryPath);
    if (!thread) OrtRunThread.#threads.set(libraryPath, thread = new OrtRunThread(libraryPath));
    thread.#users++;
    return thread;
  }

  /**
   * Runs `session` on what `binding` holds and waits for its outputs, on the thread; rejects
   * with {@linkcode OrtCallError} when ONNX Runtime refuses.
   */
  run(session: Deno.PointerValue, binding: Deno.PointerValue): Promise<void> {
    const id = this.#nextId++;
    const pending = Promise.withResolvers<void>();
    this.#pending.set(id, pending);
    const request: RunRequest = {
      id,
      session: Deno.UnsafePointer.value(session) as bigint,
      binding: Deno.UnsafePointer.value(binding) as bigint,
    };
    this.#worker.postMessage(request);
    return pending.promise;
  }

  /**
   * Gives up one use; the thread ends with the last. Its sessions' runs must have settled: one
   * still waiting is rejected.
   */
  release(): void {
    if (--this.#users > 0) return;
    this.#worker.terminate();
    OrtRunThread.#threads.delete(this.#libraryPath);
    this.#rejectPending(new Error("the run thread ended before the run was answered"));
  }

  #rejectPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
