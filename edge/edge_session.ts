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
import { SessionBackground } from "./session_background.ts";
import { type MicroTurn, MicroTurnFlags } from "../protocol/worker_link.ts";
import { CLIENT_PROTOCOL_VERSION, type ServerMessage } from "../protocol/client_messages.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/error_codes.ts";
import {
  DMEL_BINS,
  DMEL_FRAMES_PER_MICRO_TURN,
  L16_PAYLOAD_TYPE,
  MICRO_TURN_MS,
  OPUS_PAYLOAD_TYPE,
  SAMPLE_RATE_HZ,
} from "../protocol/media_format.ts";
import type { LinkSessionHandlers } from "./worker_link_client.ts";
import type { ClientSocket, EdgeSessionOptions } from "./edge_session_options.ts";
import { SessionWorker } from "./session_worker.ts";
import { SessionTurns } from "./session_turns.ts";
import { SessionCompaction } from "./session_compaction.ts";
import { MicroTurnClock } from "./micro_turn_clock.ts";
import { OutputRiders } from "./output_riders.ts";
import { MicroTurnLedger } from "./micro_turn_ledger.ts";
import { meanDmelLevel } from "../pipeline/dmel.ts";
import { ClientInput } from "./client_input.ts";

/** A live client session at the edge. */
export class EdgeSession {
  readonly #o: EdgeSessionOptions;
  readonly #pipeline: IngressPipeline;
  readonly #writer: WritableStreamDefaultWriter<IngressFrame>;
  readonly #egress: SessionEgress;
  readonly #turns: SessionTurns;
  readonly #clock: MicroTurnClock;
  #pump: Promise<void> = Promise.resolve();
  #ending: Promise<void> | undefined;
  #socket: ClientSocket | undefined;
  #socketOpen = false;
  /** The worker that holds the session, once placed. */
  #worker: SessionWorker | undefined;
  #detachedAtMs: number | undefined;
  #detachTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #riders: OutputRiders;
  readonly #ledger: MicroTurnLedger;
  readonly #input: ClientInput;
  readonly #compaction: SessionCompaction;
  readonly #background: SessionBackground;
  readonly #ended = Promise.withResolvers<void>();

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
    this.#riders = new OutputRiders({
      sendAlone: (message) => this.#sendJson(message),
      newerInput: (sequence) => this.#pipeline.jitter.acknowledgedSequence !== sequence,
    });
    this.#ledger = new MicroTurnLedger({
      sessionId: options.sessionId,
      eventLog: options.eventLog,
      clock: options.clock,
      acknowledge: (sequence) => this.#riders.durable(sequence),
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
    this.#turns = new SessionTurns({
      worker: () => this.#worker,
      pooled: options.workers.pooled,
      ledger: this.#ledger,
      egress: this.#egress,
      connected: () => this.#socketOpen,
      send: (output) => this.#sendJson(this.#riders.carry(output)),
      linearPcm: options.codec === "l16",
      metrics: options.metrics,
      clock: options.clock,
      delegated: (microTurn) => this.#background.modelAsked(microTurn),
      fail: (error) => this.#fail(error),
    });
    this.#compaction = new SessionCompaction(options, {
      worker: () => this.#worker,
      microTurns: () => this.#ledger.count,
      ending: () => this.#ending !== undefined,
    });
    this.#clock = new MicroTurnClock(
      () => this.#pipeline.jitter.nextDeadlineMs(),
      options.clock,
      (nowMs) => this.#writer.write({ type: "tick", nowMs }),
      (error) => this.#fail(error),
    );
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
      onOutput: (output) => this.#turns.deliver(output),
      onAudioRest: (index, payloads) => this.#turns.audioRest(index, payloads),
      onError: (code, message, index) => {
        this.#o.log.warn("worker error", { sessionId, code, message, index });
        this.#turns.failed(index);
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
        if (kind === "context_full") this.#compaction.request(Number(body.window));
      },
    };
    this.#worker = new SessionWorker({
      sessionId,
      startedAtMs: this.#o.startedAtMs,
      audio: this.#o.codec === "l16" ? "pcm" : "opus",
      workers: this.#o.workers,
      handlers,
      rebuildContext: this.#o.rebuildContext ?? (() => Promise.resolve(this.#o.context ?? "")),
      onMoving: () => this.#turns.loseInFlight(),
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
    this.#clock.arm();
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
    this.#riders.reset();
    eventLog.append(sessionId, {
      kind: "session_resumed",
      microTurn: this.#ledger.count,
      wallTime: new Date(clock.now()),
      payload: {
        clientAck: clientAck ?? null,
        serverAck: this.#pipeline.jitter.acknowledgedSequence ?? null,
        detachedMs,
        droppedOutputs: this.#turns.droppedWhileDetached,
      },
    });
    this.#turns.droppedWhileDetached = 0;
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
    this.#clock.stop();
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
    this.#clock.stop();
    clearTimeout(this.#detachTimer);
    await this.#writer.close().catch(() => {});
    await this.#pump;
    await this.#turns.drain(this.#o.drainTimeoutMs);
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
    this.#clock.arm();
  }

  #forward(turn: MicroTurn): void {
    this.#acknowledge(turn.index);
    // Speech in this micro-turn holds background results back until a pause.
    this.#background.microTurnClosed(
      (turn.flags & MicroTurnFlags.INPUT_MISSING) === 0 &&
        meanDmelLevel(turn.dmel.subarray(0, DMEL_FRAMES_PER_MICRO_TURN * DMEL_BINS)) >
          SPEAKING_LEVEL,
    );
    this.#turns.forward(turn);
  }

  /**
   * Notes what input micro-turn `index` covers (acknowledged once its event is durable), and
   * every second tells the client how its link is doing.
   */
  #acknowledge(index: number): void {
    const jitter = this.#pipeline.jitter;
    this.#ledger.covers(index, jitter.acknowledgedSequence);
    if (index % STATS_EVERY_TURNS === STATS_EVERY_TURNS - 1) {
      this.#riders.stats({
        jitter: jitter.stats,
        egress: this.#egress.stats,
        videoDropped: this.#input.videoDropped,
      });
    }
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
