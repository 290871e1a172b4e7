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
 * outputs come back in order. A micro-turn's audio comes back in two parts: its first
 * {@linkcode HEAD_FRAMES} frames (40 ms, for the edge to start playing) and then the rest; the
 * requests of one step's outputs, handed over together, are queued every first part ahead of
 * every rest, so the last session of a step waits for the others' first frames, not for all
 * their audio (bench:encode). A micro-turn the model kept silent is answered at once, without
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
    /** A micro-turn's audio: its first `headFrames` encoded now, the rest owed. */
    kind: "encode";
    /** Request id, echoed in the reply. */
    id: number;
    sessionId: string;
    /** 16 kHz mono PCM, whole 20 ms frames. */
    pcm: Int16Array;
    /** The model chose not to speak: every frame is silence. */
    silent: boolean;
    /** Frames encoded in this part; audible frames after them are owed to a `rest`. */
    headFrames: number;
  }
  | {
    /** The frames the session's last `encode` owed. */
    kind: "rest";
    /** Request id, echoed in the reply. */
    id: number;
    sessionId: string;
  }
  | { kind: "release"; sessionId: string };

/**
 * An encoder thread's reply: the payloads' sizes ({@linkcode OWED_FRAME} for a frame a `rest`
 * brings) and their bytes back to back, or an error.
 */
export type EncoderThreadReply =
  | { id: number; sizes: Uint16Array; bytes: Uint8Array }
  | { id: number; error: string };

/** The size that marks an owed frame in a reply (an Opus payload is at most 1275 bytes). */
export const OWED_FRAME = 0xffff;

/** Frames of a micro-turn's audio in its first part: 40 ms. */
export const HEAD_FRAMES = 2;

/**
 * A micro-turn's audio as the pool encodes it: `head`, a payload per 20 ms frame (empty for
 * silence, null for an audible frame that `rest` brings), then `rest`, the payloads of those
 * null frames in order (empty when there are none). Both reject with
 * {@linkcode OutputEncodeError} when the pool cannot encode; `rest` never rejects unhandled.
 */
export interface EncodedOutput {
  /** The first part. */
  head: Promise<(Uint8Array | null)[]>;
  /** The rest. */
  rest: Promise<Uint8Array[]>;
}

/** Raised when output audio was not encoded on the worker; the caller sends it as PCM. */
export class OutputEncodeError extends Error {
  /** @param message why */
  constructor(message: string) {
    super(message);
    this.name = "OutputEncodeError";
  }
}

/** Requests a thread holds at most (two per micro-turn: about 230 ms of work at complexity 3). */
const DEFAULT_MAX_QUEUED = 512;

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
  #flushQueued = false;

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
   * Encodes a micro-turn's output audio on the session's thread, in two parts (see
   * {@linkcode EncodedOutput}); all of it is silence when `silent`. Rejects with
   * {@linkcode OutputEncodeError} when the pool is closed, the thread is full or it failed.
   */
  encode(
    sessionId: string,
    pcm: Int16Array,
    silent: boolean,
    headFrames = HEAD_FRAMES,
  ): EncodedOutput {
    if (this.#closed) return refused("the encoder pool is closed");
    // Silence has nothing to encode: answered here, unless it would overtake the session's
    // queued speech.
    if (silent && !this.#placed.get(sessionId)?.holds(sessionId)) {
      const frames = Math.floor(pcm.length / SAMPLES_PER_FRAME);
      return {
        head: Promise.resolve(Array.from({ length: frames }, () => NO_PAYLOAD)),
        rest: Promise.resolve([]),
      };
    }
    const thread = this.#threadOf(sessionId);
    if (thread.queued >= this.#maxQueued && !thread.holds(sessionId)) {
      return refused("the encoder thread is full");
    }
    // A copy: the output's audio may be a view of a larger buffer, which a transfer would take.
    const samples = pcm.slice();
    const head = thread.request(
      { kind: "encode", id: this.#nextId++, sessionId, pcm: samples, silent, headFrames },
      [samples.buffer],
    );
    const rest = thread.request({ kind: "rest", id: this.#nextId++, sessionId }, []) as Promise<
      Uint8Array[]
    >;
    rest.catch(() => {});
    // Posted once this turn of the event loop's outputs are all in: every first part first.
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        for (const slot of this.#slots) slot?.flush();
      });
    }
    return { head, rest };
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
  readonly #pending = new Map<
    number,
    { sessionId: string } & PromiseWithResolvers<(Uint8Array | null)[]>
  >();
  /** Requests not yet posted: first parts, then rests (see {@linkcode flush}). */
  #heads: [EncoderThreadRequest, Transferable[]][] = [];
  #rests: EncoderThreadRequest[] = [];
  /** Sessions with a first part in the batch not yet posted. */
  readonly #batched = new Set<string>();
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
      const payloads: (Uint8Array | null)[] = [];
      let offset = 0;
      for (const size of reply.sizes) {
        payloads.push(size === OWED_FRAME ? null : reply.bytes.subarray(offset, offset += size));
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

  /** Queues a request, posted at the next {@linkcode flush}. */
  request(
    request: EncoderThreadRequest & { kind: "encode" | "rest" },
    transfer: Transferable[],
  ): Promise<(Uint8Array | null)[]> {
    const pending = {
      sessionId: request.sessionId,
      ...Promise.withResolvers<(Uint8Array | null)[]>(),
    };
    this.#pending.set(request.id, pending);
    const { sessionId } = request;
    this.#queuedBySession.set(sessionId, (this.#queuedBySession.get(sessionId) ?? 0) + 1);
    if (request.kind === "encode") {
      // A session's second micro-turn in one batch goes after its first one's rest.
      if (this.#batched.has(sessionId)) this.flush();
      this.#batched.add(sessionId);
      this.#heads.push([request, transfer]);
    } else this.#rests.push(request);
    return pending.promise;
  }

  /** Posts the queued requests: every first part, then every rest. */
  flush(): void {
    for (const [request, transfer] of this.#heads) this.#worker.postMessage(request, transfer);
    for (const request of this.#rests) this.#worker.postMessage(request);
    this.#heads = [];
    this.#rests = [];
    this.#batched.clear();
  }

  release(sessionId: string): void {
    this.sessions--;
    // After what the session has queued: its encoder (and owed frames) must not come back.
    this.flush();
    const request: EncoderThreadRequest = { kind: "release", sessionId };
    this.#worker.postMessage(request);
  }

  /** Terminates the thread and refuses what it had queued. */
  end(reason: string): void {
    this.#worker.terminate();
    this.#heads = [];
    this.#rests = [];
    this.#batched.clear();
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

/** An output the pool refuses: both parts rejected (the rest's rejection handled). */
function refused(reason: string): EncodedOutput {
  const rest = Promise.reject(new OutputEncodeError(reason));
  rest.catch(() => {});
  return { head: Promise.reject(new OutputEncodeError(reason)), rest };
}
