/**
 * Output audio encoded on the worker's host: a pool of threads (Deno `Worker`s, module
 * gpu-worker/output_encoder_thread.ts) holding one Opus encoder per session. Encoding on the
 * edge cost it a quarter of its CPU (bench/results/edge-sockets-profile.txt: ~1.8 ms a
 * session-second at complexity 3 when the model speaks half the time), where a GPU worker's
 * host has cores to spare beside the GPU; Opus on the link is also ~17 kbit/s a session
 * against 256 for PCM. The worker's main thread, which drives model steps, never encodes.
 *
 * A session is placed on the thread with the fewest sessions when it opens and stays there
 * (its encoder's state carries across micro-turns). A thread answers in order, so a session's
 * outputs come back in order. A micro-turn the model kept silent is answered at once, without
 * a thread, unless the session's earlier speech is still queued (it waits its turn then): half
 * the sessions of a step never queue behind the other half's encodes. A thread whose queue is
 * full refuses a session's micro-turn with {@linkcode OutputEncodeError} (the caller sends it
 * as PCM, for the edge to encode), unless that session has a micro-turn queued already: those
 * queue behind it, so a session's outputs never overtake one another. A thread that fails is
 * ended, what it had queued refused, and its sessions start on a fresh thread with fresh
 * encoders.
 *
 * @module
 */
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** A request to an encoder thread. */
export type EncoderThreadRequest =
  | {
    kind: "encode";
    /** Request id, echoed in the reply. */
    id: number;
    sessionId: string;
    /** 16 kHz mono PCM, whole 20 ms frames. */
    pcm: Int16Array;
    /** The model chose not to speak: every frame is silence. */
    silent: boolean;
  }
  | { kind: "release"; sessionId: string };

/** An encoder thread's reply: the payloads' sizes and their bytes back to back, or an error. */
export type EncoderThreadReply =
  | { id: number; sizes: Uint16Array; bytes: Uint8Array }
  | { id: number; error: string };

/** Raised when output audio was not encoded on the worker; the caller sends it as PCM. */
export class OutputEncodeError extends Error {
  /** @param message why */
  constructor(message: string) {
    super(message);
    this.name = "OutputEncodeError";
  }
}

/** Encode requests a thread holds at most (about 230 ms of work at complexity 3). */
const DEFAULT_MAX_QUEUED = 256;

const NO_PAYLOAD = new Uint8Array(0);

/**
 * Threads a worker's pool has by default: half the host's cores, 1 to 8. A step's speaking
 * sessions queue on them: ~0.9 ms a speaking micro-turn (bench:encode, worker-encode.json).
 */
export function defaultEncodeThreads(): number {
  return Math.min(8, Math.max(1, Math.floor(navigator.hardwareConcurrency / 2)));
}

/** A pool of output encoder threads; see the module doc. */
export class OutputEncoderPool {
  readonly #slots: (EncoderThread | undefined)[];
  readonly #maxQueued: number;
  readonly #placed = new Map<string, EncoderThread>();
  #nextId = 0;
  #closed = false;

  /**
   * @param threads threads at most, each started by {@linkcode start} or when a session is
   *   first placed on it
   * @param maxQueued encode requests one thread holds at most
   */
  constructor(threads: number, maxQueued = DEFAULT_MAX_QUEUED) {
    this.#slots = Array.from({ length: Math.max(1, threads) });
    this.#maxQueued = maxQueued;
  }

  /**
   * Starts every thread now (a thread takes ~130 ms to start and blocks the caller ~30 ms), so
   * that no session's first output waits for one: a worker calls it as it starts.
   */
  start(): void {
    if (this.#closed) return;
    for (let slot = 0; slot < this.#slots.length; slot++) this.#slots[slot] ??= this.#thread(slot);
  }

  /** Threads running now. */
  get liveThreads(): number {
    return this.#slots.filter((thread) => thread !== undefined).length;
  }

  /** Places a session on a thread (starting it if need be), ahead of its first output. */
  open(sessionId: string): void {
    if (!this.#closed) this.#threadOf(sessionId);
  }

  /**
   * Encodes a micro-turn's output audio on the session's thread: one Opus payload per 20 ms
   * frame, an empty one for silence (all of them when `silent`). Rejects with
   * {@linkcode OutputEncodeError} when the pool is closed, the thread is full or it failed.
   */
  encode(sessionId: string, pcm: Int16Array, silent: boolean): Promise<Uint8Array[]> {
    if (this.#closed) return Promise.reject(new OutputEncodeError("the encoder pool is closed"));
    // Silence has nothing to encode: answered here, unless it would overtake the session's
    // queued speech.
    if (silent && !this.#placed.get(sessionId)?.holds(sessionId)) {
      const frames = Math.floor(pcm.length / SAMPLES_PER_FRAME);
      return Promise.resolve(Array.from({ length: frames }, () => NO_PAYLOAD));
    }
    const thread = this.#threadOf(sessionId);
    if (thread.queued >= this.#maxQueued && !thread.holds(sessionId)) {
      return Promise.reject(new OutputEncodeError("the encoder thread is full"));
    }
    // A copy: the output's audio may be a view of a larger buffer, which a transfer would take.
    const samples = pcm.slice();
    return thread.encode(
      { kind: "encode", id: this.#nextId++, sessionId, pcm: samples, silent },
      [samples.buffer],
    );
  }

  /** Frees a session's encoder (after what it has queued). */
  release(sessionId: string): void {
    const thread = this.#placed.get(sessionId);
    if (!thread) return;
    this.#placed.delete(sessionId);
    thread.release(sessionId);
  }

  /** Ends every thread; what they had queued is refused. */
  close(): void {
    this.#closed = true;
    for (const [slot, thread] of this.#slots.entries()) {
      thread?.end("the encoder pool closed");
      this.#slots[slot] = undefined;
    }
    this.#placed.clear();
  }

  #threadOf(sessionId: string): EncoderThread {
    let thread = this.#placed.get(sessionId);
    if (thread) return thread;
    let slot = 0;
    for (let i = 1; i < this.#slots.length; i++) {
      if ((this.#slots[i]?.sessions ?? 0) < (this.#slots[slot]?.sessions ?? 0)) slot = i;
    }
    thread = this.#slots[slot] ??= this.#thread(slot);
    thread.sessions++;
    this.#placed.set(sessionId, thread);
    return thread;
  }

  /** A new thread for `slot`: one that fails is ended and its sessions placed afresh. */
  #thread(slot: number): EncoderThread {
    return new EncoderThread((failed, message) => {
      failed.end(`the encoder thread failed: ${message}`);
      if (this.#slots[slot] === failed) this.#slots[slot] = undefined;
      for (const [id, placed] of this.#placed) if (placed === failed) this.#placed.delete(id);
    });
  }
}

/** One encoder thread and the requests it has not answered. */
class EncoderThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { sessionId: string } & PromiseWithResolvers<Uint8Array[]>>();
  /** Requests queued per session. */
  readonly #queuedBySession = new Map<string, number>();
  /** Sessions placed here. */
  sessions = 0;

  constructor(onFailure: (thread: EncoderThread, message: string) => void) {
    this.#worker = new Worker(new URL("./output_encoder_thread.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<EncoderThreadReply>) => {
      const reply = event.data;
      const pending = this.#settle(reply.id);
      if (!pending) return;
      if ("error" in reply) return pending.reject(new OutputEncodeError(reply.error));
      const payloads: Uint8Array[] = [];
      let offset = 0;
      for (const size of reply.sizes) {
        payloads.push(reply.bytes.subarray(offset, offset += size));
      }
      pending.resolve(payloads);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      onFailure(this, event.message);
    };
  }

  /** Requests not yet answered. */
  get queued(): number {
    return this.#pending.size;
  }

  /** Whether a session has a request queued here. */
  holds(sessionId: string): boolean {
    return this.#queuedBySession.has(sessionId);
  }

  encode(
    request: EncoderThreadRequest & { kind: "encode" },
    transfer: Transferable[],
  ): Promise<Uint8Array[]> {
    const pending = { sessionId: request.sessionId, ...Promise.withResolvers<Uint8Array[]>() };
    this.#pending.set(request.id, pending);
    const { sessionId } = request;
    this.#queuedBySession.set(sessionId, (this.#queuedBySession.get(sessionId) ?? 0) + 1);
    this.#worker.postMessage(request, transfer);
    return pending.promise;
  }

  release(sessionId: string): void {
    this.sessions--;
    const request: EncoderThreadRequest = { kind: "release", sessionId };
    this.#worker.postMessage(request);
  }

  /** Terminates the thread and refuses what it had queued. */
  end(reason: string): void {
    this.#worker.terminate();
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)!.reject(new OutputEncodeError(reason));
    }
  }

  #settle(id: number) {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    const left = this.#queuedBySession.get(pending.sessionId)! - 1;
    if (left > 0) this.#queuedBySession.set(pending.sessionId, left);
    else this.#queuedBySession.delete(pending.sessionId);
    return pending;
  }
}
