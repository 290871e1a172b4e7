/**
 * One client connection's session at the edge: socket messages in, through the ingress
 * pipeline to the worker link; outputs back as Opus RTP and JSON; every micro-turn and text
 * recorded in the event log. Bad input is answered with a protocol error and, unless the
 * error is fatal, the session goes on.
 *
 * @module
 */
import { createIngressPipeline, type IngressPipeline } from "../pipeline/ingress_pipeline.ts";
import type { IngressFrame } from "../pipeline/ingress_frames.ts";
import { SessionEgress } from "./session_egress.ts";
import type { JitterBufferOptions } from "../pipeline/jitter_buffer.ts";
import { type Delegation, SessionBackground } from "./session_background.ts";
import { type MicroTurn, MicroTurnFlags, type MicroTurnOutput } from "../protocol/worker_link.ts";
import { CLIENT_PROTOCOL_VERSION, type ServerMessage } from "../protocol/client_messages.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/error_codes.ts";
import {
  type AudioCodec,
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  FRAMES_PER_MICRO_TURN,
  L16_PAYLOAD_TYPE,
  MICRO_TURN_MS,
  OPUS_PAYLOAD_TYPE,
  SAMPLE_RATE_HZ,
} from "../protocol/media_format.ts";
import type { LinkSessionHandlers } from "./worker_link_client.ts";
import type { WorkerLinks } from "./worker_links.ts";
import { SessionWorker } from "./session_worker.ts";
import { MicroTurnLedger } from "./micro_turn_ledger.ts";
import { ClientInput } from "./client_input.ts";
import type { EventLog } from "../store/event_log.ts";
import type { EdgeMetrics } from "./edge_metrics.ts";
import type { ToolHost } from "../background/chat_runner.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

/** The parts of a WebSocket a session uses. */
export interface ClientSocket {
  /** Sends a text or binary message. */
  send(data: string | Uint8Array<ArrayBuffer>): void;
  /** Closes with a code and reason. */
  close(code: number, reason: string): void;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
}

/** What a session needs from the edge. */
export interface EdgeSessionOptions {
  /** Session id. */
  sessionId: string;
  /** When the session was created (the model's time origin). */
  startedAtMs: number;
  /** The workers the session may be placed on. */
  workers: WorkerLinks;
  /** Where events are recorded. */
  eventLog: EventLog;
  /** Edge metrics. */
  metrics: EdgeMetrics;
  /** Wall clock. */
  clock: Clock;
  /** Logger. */
  log: Logger;
  /** Largest message accepted, in bytes. */
  maxMessageBytes: number;
  /** Above this many queued bytes on the socket, output audio is skipped, not queued. */
  maxBufferedBytes: number;
  /** Longest wait for outstanding outputs when the session ends. */
  drainTimeoutMs: number;
  /** Jitter buffer tuning. */
  jitter?: JitterBufferOptions;
  /** How long a session whose connection dropped waits for the client to resume it, ms. */
  resumeWindowMs: number;
  /** Index of its first micro-turn: a session continued from the store goes on numbering. */
  firstMicroTurn?: number;
  /**
   * Called as the session ends, after its last event is appended and before the client hears
   * `closed`: makes the events durable and gives the session up (its lease), so a client that
   * reconnects at once, anywhere, finds everything.
   */
  handOff?: () => Promise<void>;
  /** The session's context from the store (compaction + conversation since), for the worker. */
  context?: string;
  /**
   * The session's context from the store as it is now (its events flushed first), to reopen it
   * on another worker when its own went away. Default: `context`.
   */
  rebuildContext?: () => Promise<string>;
  /**
   * Compacts the session's stored history (its worker's `window` is full) and returns the
   * context to rebuild from; runs off the real-time path.
   */
  compact?: (window: number) => Promise<{ compactionId: number; context: string } | undefined>;
  /** Background tasks, when the edge has a background runner. */
  delegation?: Delegation;
  /** How the client's audio is coded: Opus RTP (default), or linear PCM from an adapter. */
  codec?: AudioCodec;
  /** Tools the client offers the background model (a Realtime client's functions). */
  tools?: ToolHost;
}

/** A live client session at the edge. */
export class EdgeSession {
  readonly #o: EdgeSessionOptions;
  readonly #pipeline: IngressPipeline;
  readonly #writer: WritableStreamDefaultWriter<IngressFrame>;
  readonly #egress: SessionEgress;
  readonly #inFlight = new Map<number, MicroTurn>();
  #pump: Promise<void> = Promise.resolve();
  #drained: (() => void) | undefined;
  #ending: Promise<void> | undefined;
  #socket: ClientSocket | undefined;
  #socketOpen = false;
  /** The worker that holds the session, once placed. */
  #worker: SessionWorker | undefined;
  #detachedAtMs: number | undefined;
  #detachTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #ledger: MicroTurnLedger;
  #droppedWhileDetached = 0;
  readonly #input: ClientInput;
  #compacting: Promise<void> | undefined;
  readonly #background: SessionBackground;
  readonly #ended = Promise.withResolvers<void>();
  #tick: ReturnType<typeof setTimeout> | undefined;
  #tickDueMs = 0;

  /** @param options the session's collaborators */
  constructor(options: EdgeSessionOptions) {
    this.#o = options;
    this.#pipeline = createIngressPipeline({
      ...options.jitter,
      codec: options.codec,
      firstTurn: options.firstMicroTurn ?? 0,
      sessionId: options.sessionId,
      startMs: options.clock.now(),
      onUndecodable: (error) => this.#report("malformed_packet", String(error)),
      onMalformedVideo: (error) => this.#report("malformed_video", String(error)),
    });
    this.#writer = this.#pipeline.writable.getWriter();
    this.#ledger = new MicroTurnLedger({
      sessionId: options.sessionId,
      eventLog: options.eventLog,
      clock: options.clock,
      acknowledge: (sequence) => this.#sendJson({ type: "ack", sequence }),
    });
    this.#background = new SessionBackground(options.delegation, {
      sessionId: options.sessionId,
      send: (message) => this.#sendJson(message),
      report: (code, message) => this.#report(code, message),
      input: (text) => this.#write({ type: "text", text }),
      log: (event) =>
        options.eventLog.append(options.sessionId, {
          microTurn: this.#pipeline.jitter.nextTurn,
          ...event,
          wallTime: new Date(options.clock.now()),
        }),
      ending: () => this.#ending !== undefined,
      clock: options.clock,
      logger: options.log,
      tools: options.tools,
    });
    this.#input = new ClientInput(
      {
        write: (frame) => this.#write(frame),
        hasRoom: () => (this.#writer.desiredSize ?? 1) > 0,
        report: (code, message) => this.#report(code, message),
        tooBig: (size) => this.#tooBig(size),
        bye: () => this.end("client said bye").catch(() => {}),
        ping: (t) => this.#sendJson({ type: "pong", t }),
        delegate: (request, delegateOptions) =>
          this.#background.delegate(request, delegateOptions, this.#ledger.count),
        cancelTask: (id) => this.#background.cancel(id),
        typed: (text, timestampMs) => this.#typed(text, timestampMs),
      },
      options.maxMessageBytes,
      options.clock,
      options.codec,
    );
    this.#egress = new SessionEgress(() => this.#socketOpen ? this.#socket : undefined, {
      codec: options.codec,
      maxBufferedBytes: options.maxBufferedBytes,
      onDrop: (frames) => options.metrics.droppedOutputFrames.inc(frames),
    });
  }

  /** Micro-turns completed so far. */
  get microTurns(): number {
    return this.#ledger.count;
  }

  /** Settles once the session has ended and released everything. */
  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  /** Whether the session is ending or has ended. */
  get isEnding(): boolean {
    return this.#ending !== undefined;
  }

  /** True while the session moves to another worker (its micro-turns are a gap meanwhile). */
  get moving(): boolean {
    return this.#worker?.moving ?? false;
  }

  /** Whether `socket` is the session's current connection (messages from others are ignored). */
  isCurrent(socket: ClientSocket): boolean {
    return this.#socket === socket && this.#socketOpen;
  }

  /**
   * Places the session on a worker and opens it there (the caller opened its event log), then
   * tells the client on `socket` it is ready, handing it `resumeToken` for reconnecting.
   * Throws `NoWorkerCapacityError` when no worker has room.
   */
  async start(socket: ClientSocket, resumeToken: string): Promise<void> {
    this.#socket = socket;
    this.#socketOpen = true;
    const { sessionId, eventLog, clock } = this.#o;
    const handlers: Omit<LinkSessionHandlers, "onLinkLost"> = {
      onOutput: (output) => this.#deliver(output),
      onError: (code, message, index) => {
        this.#o.log.warn("worker error", { sessionId, code, message, index });
        // A micro-turn the worker failed is a gap like a lost one: its input is still logged.
        const turn = this.#inFlight.get(index);
        this.#inFlight.delete(index);
        if (turn) this.#recordLost(turn);
        this.#checkDrained();
      },
      onEvent: (body) => {
        const kind = String(body.kind);
        if (kind === "idle_closed") {
          this.#fail(new ProtocolError("worker_unavailable", "the worker reclaimed the session"));
          return;
        }
        eventLog.append(sessionId, {
          kind,
          microTurn: this.#ledger.count,
          wallTime: new Date(clock.now()),
          payload: body,
        });
        if (kind === "context_full") this.#compact(Number(body.window));
      },
    };
    this.#worker = new SessionWorker({
      sessionId,
      startedAtMs: this.#o.startedAtMs,
      audio: this.#o.codec === "l16" ? "pcm" : "opus",
      workers: this.#o.workers,
      handlers,
      rebuildContext: this.#o.rebuildContext ?? (() => Promise.resolve(this.#o.context ?? "")),
      onMoving: () => this.#loseInFlight(),
      onMoved: (move) =>
        eventLog.append(sessionId, {
          kind: "worker_moved",
          microTurn: this.#ledger.count,
          wallTime: new Date(clock.now()),
          payload: move,
        }),
      onLost: (error) =>
        this.#fail(
          error instanceof ProtocolError ? error : new ProtocolError(
            "worker_unavailable",
            `no worker could take the session: ${error.message}`,
          ),
        ),
      log: this.#o.log,
    });
    await this.#worker.open(this.#o.context ?? "");
    eventLog.append(sessionId, {
      kind: "session_opened",
      wallTime: new Date(clock.now()),
      payload: {
        firstMicroTurn: this.#o.firstMicroTurn ?? 0,
        contextChars: this.#o.context?.length ?? 0,
      },
    });
    this.#o.metrics.sessions.inc();
    this.#armClock();
    this.#pump = this.#pipeline.readable.pipeTo(
      new WritableStream({ write: (turn) => this.#forward(turn) }),
    ).catch((error) => this.#fail(error));
    this.#sendReady(resumeToken, false);
    this.#background.resume().catch((error) =>
      this.#o.log.warn("background tasks not resumed", { sessionId, error: String(error) })
    );
  }

  /**
   * Reattaches the session to a new connection after the client lost its old one. The old
   * socket, if still open, is closed as superseded. The client learns the acknowledged input
   * sequence number and replays what came after it; replayed packets already received are
   * recognised and dropped.
   */
  resume(socket: ClientSocket, resumeToken: string, clientAck: number | undefined): void {
    if (this.#ending) throw new ProtocolError("session_closed", "the session has ended");
    const { sessionId, eventLog, clock } = this.#o;
    if (this.#socketOpen && this.#socket) {
      this.#sendJson({
        type: "error",
        code: "superseded",
        message: "a newer connection resumed this session",
        fatal: true,
      });
      this.#socket.close(ERROR_CODES.superseded, "superseded");
    }
    clearTimeout(this.#detachTimer);
    const detachedMs = this.#detachedAtMs === undefined ? 0 : clock.now() - this.#detachedAtMs;
    this.#detachedAtMs = undefined;
    this.#socket = socket;
    this.#socketOpen = true;
    this.#ledger.newConnection();
    eventLog.append(sessionId, {
      kind: "session_resumed",
      microTurn: this.#ledger.count,
      wallTime: new Date(clock.now()),
      payload: {
        clientAck: clientAck ?? null,
        serverAck: this.#pipeline.jitter.acknowledgedSequence ?? null,
        detachedMs,
        droppedOutputs: this.#droppedWhileDetached,
      },
    });
    this.#droppedWhileDetached = 0;
    this.#o.metrics.resumes.inc();
    this.#sendReady(resumeToken, true);
  }

  #sendReady(resumeToken: string, resumed: boolean): void {
    this.#sendJson({
      type: "ready",
      protocol: CLIENT_PROTOCOL_VERSION,
      session: this.#o.sessionId,
      sampleRate: SAMPLE_RATE_HZ,
      microTurnMs: MICRO_TURN_MS,
      payloadType: this.#o.codec === "l16" ? L16_PAYLOAD_TYPE : OPUS_PAYLOAD_TYPE,
      resumeToken,
      resumed,
      acknowledged: this.#pipeline.jitter.acknowledgedSequence ?? null,
    });
  }

  /** Releases what a session that never started holds (its start failed). */
  discard(reason: unknown): void {
    this.#ending ??= Promise.resolve();
    this.#ended.resolve();
    clearTimeout(this.#tick);
    this.#writer.abort(reason).catch(() => {});
    this.#egress.close();
    this.#o.eventLog.release(this.#o.sessionId);
  }

  /** Handles one binary message from the client: an RTP packet or a camera frame. */
  receiveBinary(bytes: Uint8Array): void {
    if (!this.#ending) this.#input.binary(bytes);
  }

  /** Handles one text message from the client. */
  receiveText(text: string): void {
    if (!this.#ending) this.#input.text(text);
  }

  /** The user typed `text`: logged, into the model's input, and seen by the background. */
  #typed(text: string, timestampMs: number | undefined): void {
    const { sessionId, eventLog, clock } = this.#o;
    eventLog.append(sessionId, {
      kind: "user_text",
      microTurn: this.#pipeline.jitter.nextTurn,
      mediaTimeMs: timestampMs,
      wallTime: new Date(clock.now()),
      payload: { text },
    });
    this.#write({ type: "text", text, timestampMs });
    this.#background.userTyped(text);
  }

  /**
   * Drops the client's connection but keeps the session (an operator moving clients, or a test
   * cutting the network): the client reconnects and resumes, as after any dropped connection.
   */
  disconnect(reason = "disconnected by the server"): void {
    const socket = this.#socket;
    if (!socket || !this.#socketOpen) return;
    socket.close(1012, reason);
    this.socketClosed(socket);
  }

  /**
   * `socket` closed under us. Unless the session is ending, it stays live (micro-turns keep
   * their clock, outputs are dropped) for `resumeWindowMs`, waiting for the client to resume;
   * then it ends.
   */
  socketClosed(socket: ClientSocket): void {
    if (socket !== this.#socket || !this.#socketOpen) return;
    this.#socketOpen = false;
    this.#egress.dropQueued();
    if (this.#ending) return;
    const { sessionId, eventLog, clock } = this.#o;
    this.#detachedAtMs = clock.now();
    eventLog.append(sessionId, {
      kind: "connection_lost",
      microTurn: this.#ledger.count,
      wallTime: new Date(clock.now()),
      payload: { acknowledged: this.#pipeline.jitter.acknowledgedSequence ?? null },
    });
    this.#detachTimer = setTimeout(
      () => this.end("client did not resume").catch(() => {}),
      this.#o.resumeWindowMs,
    );
  }

  /**
   * Ends the session: finishes the open micro-turn, waits (bounded) for outstanding outputs,
   * records the end, closes the socket with `closeCode`. Idempotent.
   */
  end(reason: string, closeCode = 1000): Promise<void> {
    this.#ending ??= this.#finish(reason, closeCode);
    return this.#ending;
  }

  async #finish(reason: string, closeCode: number): Promise<void> {
    const { sessionId, eventLog, clock, metrics } = this.#o;
    clearTimeout(this.#tick);
    clearTimeout(this.#detachTimer);
    await this.#writer.close().catch(() => {});
    await this.#pump;
    if (this.#inFlight.size > 0) {
      const drained = new Promise<void>((resolve) => this.#drained = resolve);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        drained,
        new Promise((resolve) => timer = setTimeout(resolve, this.#o.drainTimeoutMs)),
      ]);
      clearTimeout(timer);
    }
    this.#worker?.close();
    eventLog.append(sessionId, {
      kind: "session_closed",
      microTurn: this.#ledger.count,
      wallTime: new Date(clock.now()),
      payload: { reason, microTurns: this.#ledger.count, jitter: this.#pipeline.jitter.stats },
    });
    eventLog.release(sessionId);
    await this.#o.handOff?.().catch((error) =>
      this.#o.log.warn("session hand-off failed", { sessionId, error })
    );
    metrics.sessions.dec();
    this.#egress.finish();
    this.#sendJson({
      type: "closed",
      reason,
      microTurns: this.#ledger.count,
      egress: this.#egress.stats,
    });
    if (this.#socketOpen) this.#socket?.close(closeCode, reason.slice(0, 120));
    this.#socketOpen = false;
    this.#ended.resolve();
  }

  #write(frame: IngressFrame): void {
    this.#writer.write(frame).catch((error) => this.#fail(error));
    this.#armClock();
  }

  /** Keeps a timer set for the jitter buffer's next deadline, so micro-turns close on time. */
  #armClock(): void {
    if (this.#ending) return;
    const dueInMs = this.#pipeline.jitter.nextDeadlineMs() - this.#o.clock.now();
    if (this.#tick !== undefined && this.#tickDueMs <= dueInMs + this.#o.clock.now()) return;
    clearTimeout(this.#tick);
    this.#tickDueMs = this.#o.clock.now() + Math.max(0, dueInMs);
    this.#tick = setTimeout(() => {
      this.#tick = undefined;
      if (this.#ending) return;
      this.#writer.write({ type: "tick", nowMs: this.#o.clock.now() })
        .then(() => this.#armClock(), (error) => this.#fail(error));
    }, Math.max(0, dueInMs));
  }

  #forward(turn: MicroTurn): void {
    this.#acknowledge(turn.index);
    // Speech in this micro-turn holds background results back until a pause.
    this.#background.microTurnClosed(
      (turn.flags & MicroTurnFlags.INPUT_MISSING) === 0 &&
        meanLevel(turn.dmel.subarray(0, DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS)) > SPEAKING_LEVEL,
    );
    this.#inFlight.set(turn.index, turn);
    if (!this.#worker?.send(turn)) {
      this.#inFlight.delete(turn.index);
      // Moving to another worker (or, in a pool, about to: the link dropped): this micro-turn
      // is a gap; its input is logged, acknowledged, and replayed into the rebuilt context. The
      // ones still in flight cannot come back either, and are logged first (in order).
      if (this.#worker?.moving || this.#o.workers.pooled) {
        this.#loseInFlight();
        return this.#recordLost(turn);
      }
      this.#fail(new ProtocolError("worker_unavailable", "the worker link is down"));
      return;
    }
    this.#o.metrics.microTurns.inc();
  }

  /**
   * Notes what input micro-turn `index` covers (sent as an `ack` once its event is durable), and
   * every second tells the client how its link is doing.
   */
  #acknowledge(index: number): void {
    const jitter = this.#pipeline.jitter;
    this.#ledger.covers(index, jitter.acknowledgedSequence);
    if (index % STATS_EVERY_TURNS === STATS_EVERY_TURNS - 1) {
      this.#sendJson({
        type: "stats",
        jitter: jitter.stats,
        egress: this.#egress.stats,
        videoDropped: this.#input.videoDropped,
      });
    }
  }

  #deliver(output: MicroTurnOutput): void {
    const turn = this.#inFlight.get(output.index);
    if (!turn) return;
    this.#inFlight.delete(output.index);
    const { clock, metrics } = this.#o;
    metrics.roundTrip.observe((clock.now() - turn.wallClockMs) / 1000);
    if (!this.#socketOpen) {
      this.#egress.skip(FRAMES_PER_MICRO_TURN);
      this.#droppedWhileDetached++;
    } else {
      if (!output.opus && this.#o.codec !== "l16") metrics.outputEncodedAtEdge.inc();
      const frames = this.#egress.frames(output);
      this.#sendJson({
        type: "output",
        index: output.index,
        control: output.control,
        text: output.text,
        audioFrames: frames.length,
      });
      this.#egress.send(frames);
    }
    if (output.control === "delegate") this.#background.modelAsked(this.#ledger.count + 1);
    this.#record(turn, { control: output.control, text: output.text, stepMs: output.stepMs });
  }

  /** What the lost worker had in flight never comes back: those micro-turns are a gap. */
  #loseInFlight(): void {
    const lost = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const turn of lost) this.#recordLost(turn);
    this.#checkDrained();
  }

  /**
   * A micro-turn no worker answered: lost with its worker, or closed while the session moved
   * to another. The client hears a gap (its output frames are skipped); its input is logged and
   * acknowledged like any other.
   */
  #recordLost(turn: MicroTurn): void {
    this.#egress.skip(FRAMES_PER_MICRO_TURN);
    this.#record(turn, { lost: true });
  }

  /** Logs a micro-turn with what came of it; its input is acknowledged once that is durable. */
  #record(turn: MicroTurn, output: Record<string, unknown>): void {
    this.#ledger.record(turn, output, meanLevel(turn.dmel));
    this.#checkDrained();
  }

  /**
   * Compaction, off the real-time path: the stored history is summarized and the worker
   * rebuilds the session's context from it, in order with its micro-turns. Micro-turns go on
   * meanwhile (on the worker's sliding window); a failure is logged and retried at the next
   * `context_full`.
   */
  #compact(window: number): void {
    const { sessionId, eventLog, clock, log } = this.#o;
    const compact = this.#o.compact;
    if (!compact || this.#compacting || this.#ending) return;
    this.#compacting = (async () => {
      const started = performance.now();
      await eventLog.flush();
      const result = await compact(window);
      if (!result || this.#ending) return;
      this.#worker?.rebuild(result.context);
      eventLog.append(sessionId, {
        kind: "compacted",
        microTurn: this.#ledger.count,
        wallTime: new Date(clock.now()),
        payload: {
          compactionId: result.compactionId,
          contextChars: result.context.length,
          ms: Math.round(performance.now() - started),
        },
      });
    })().catch((error) => log.warn("compaction failed", { sessionId, error: String(error) }))
      .finally(() => this.#compacting = undefined);
  }

  #checkDrained(): void {
    if (this.#inFlight.size === 0) this.#drained?.();
  }

  #tooBig(size: number): void {
    this.#report("message_too_big", `message of ${size} bytes exceeds ${this.#o.maxMessageBytes}`);
    this.end("message too big", ERROR_CODES.message_too_big).catch(() => {});
  }

  #fail(error: unknown): void {
    const code = error instanceof ProtocolError ? error.code : "internal_error";
    const message = error instanceof Error ? error.message : String(error);
    this.#o.log.error("session failed", { sessionId: this.#o.sessionId, code, message });
    this.#report(code, message);
    this.end(message, ERROR_CODES[code] ?? ERROR_CODES.internal_error).catch(() => {});
  }

  #report(code: ErrorCode, message: string): void {
    this.#o.metrics.clientErrors.inc({ code });
    this.#sendJson({ type: "error", code, message, fatal: ERROR_CODES[code] !== null });
  }

  #sendJson(message: ServerMessage): void {
    if (this.#socketOpen) this.#socket?.send(JSON.stringify(message));
  }
}

/** Mean dMel level above which a micro-turn counts as the user speaking. */
const SPEAKING_LEVEL = 1.5;

/** Micro-turns between two `stats` messages (one second). */
const STATS_EVERY_TURNS = 5;

/** Mean dMel code of a micro-turn, rounded to 0.01: a coarse loudness the log keeps. */
function meanLevel(codes: Uint8Array): number {
  let sum = 0;
  for (const code of codes) sum += code;
  return Math.round((100 * sum) / Math.max(1, codes.length)) / 100;
}
