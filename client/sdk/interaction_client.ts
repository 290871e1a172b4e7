/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The browser SDK: talk, show and type to the system over one WebSocket (protocol v1,
 * docs/protocol.md). It captures the microphone (Opus via WebCodecs, RTP-framed), sends camera
 * frames as JPEG at a rate that backs off when the socket backs up (video goes before audio),
 * sends typed text, plays the model's audio through a small playout buffer, and reconnects by
 * itself: with the resume token to the same edge, else by reopening the session anywhere,
 * replaying every audio packet the edge has not acknowledged, so nothing said is lost.
 *
 * Events (`addEventListener`): `state` (detail: the new state), `ready`, `output` (detail:
 * `{ index, text, control, atMs }`), `level` (detail: microphone RMS 0..1), `stats` (detail:
 * {@linkcode ClientStats}), `task` (detail: the protocol's `task` message: a background task
 * started, streamed an update, or ended), `error` (detail: `{ code, message, fatal }`).
 *
 * @module
 */
import { parseRtpPacket, serializeRtpPacket } from "../../pipeline/rtp_packet.ts";
import { serializeVideoMessage } from "../../protocol/video_message.ts";
import {
  AUDIO_PACKET_MS,
  OPUS_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
} from "../../protocol/media_format.ts";
import { type UplinkPacket, UplinkPacketizer } from "./uplink_packetizer.ts";
import type { ServerMessage, SessionStats } from "../../protocol/client_messages.ts";
import { type EncodedFrame, Microphone, type OpusEncoderChoice } from "./microphone.ts";
import { AudioPlayer } from "./audio_player.ts";
import { Camera } from "./camera.ts";

/** Where the client is. */
export type ClientState = "idle" | "connecting" | "live" | "reconnecting" | "closed";

/** What the client measures. */
export interface ClientStats {
  /** Connection state. */
  state: ClientState;
  /** Network round trip to the edge (ping/pong), ms. */
  roundTripMs: number;
  /** The edge's adaptive jitter-buffer target, ms. */
  jitterMs: number;
  /** Delay the edge's buffer added to the last micro-turn, ms. */
  edgeBufferMs: number;
  /** Model audio waiting in the local playout buffer, ms. */
  playoutBufferMs: number;
  /** Audio packets sent (replays not counted). */
  packetsSent: number;
  /** Packets kept for replay until the edge acknowledges them. */
  packetsUnacked: number;
  /** Frames the edge received after their micro-turn closed. */
  lateFrames: number;
  /** Frames the edge concealed. */
  concealedFrames: number;
  /** Reconnections so far. */
  reconnects: number;
  /** Model audio frames decoded here. */
  decodedFrames: number;
  /** Camera frames sent, and the current interval between them. */
  videoFramesSent: number;
  /** Current interval between camera frames, ms. */
  videoIntervalMs: number;
  /** Which Opus encoder runs, once the microphone is open. */
  audioEncoder?: "webcodecs" | "wasm";
}

/** Options for {@linkcode InteractionClient}. */
export interface InteractionClientOptions {
  /** The edge's base URL. Default: the page's origin. */
  baseUrl?: string;
  /** Send camera frames. Default false. */
  camera?: boolean;
  /** Where to show the camera. */
  preview?: HTMLVideoElement;
  /** Reuse this session (with its token) instead of creating one. */
  session?: { sessionId: string; token: string };
  /** Opus encoder: WebCodecs when available (`auto`, the default), or always `wasm`. */
  opusEncoder?: OpusEncoderChoice;
}

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([1000, 1009, 4401, 4404, 4410, 4411]);
/** Most audio kept for replay: 30 s. */
const MAX_UNACKED_PACKETS = 30_000 / AUDIO_PACKET_MS;
const VIDEO_BASE_INTERVAL_MS = 500;
const VIDEO_MAX_INTERVAL_MS = 4000;
/** Above this many queued bytes the socket counts as backed up and video waits. */
const BACKED_UP_BYTES = 32 * 1024;

/** A conversation with the system; see the module doc. */
export class InteractionClient extends EventTarget {
  readonly #baseUrl: string;
  readonly #options: InteractionClientOptions;
  #session: { sessionId: string; token: string } | undefined;
  #resumeToken: string | undefined;
  #socket: WebSocket | undefined;
  #state: ClientState = "idle";
  #microphone: Microphone | undefined;
  #camera: Camera | undefined;
  #player: AudioPlayer | undefined;
  /** Extended sequence numbers of sent audio not yet acknowledged, with their bytes. */
  #unacked = new Map<number, Uint8Array<ArrayBuffer>>();
  /** The microphone's frames, gathered into packets. */
  readonly #uplink = new UplinkPacketizer();
  #sequence = Math.floor(Math.random() * 0x8000);
  #timestamp = Math.floor(Math.random() * 2 ** 31);
  readonly #ssrc = Math.floor(Math.random() * 2 ** 32) >>> 0;
  #lastAck: number | undefined;
  #mediaStart = performance.now();
  #retryMs = 250;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #videoInterval = VIDEO_BASE_INTERVAL_MS;
  #stats: ClientStats = {
    state: "idle",
    roundTripMs: 0,
    jitterMs: 0,
    edgeBufferMs: 0,
    playoutBufferMs: 0,
    packetsSent: 0,
    packetsUnacked: 0,
    lateFrames: 0,
    concealedFrames: 0,
    reconnects: 0,
    decodedFrames: 0,
    videoFramesSent: 0,
    videoIntervalMs: VIDEO_BASE_INTERVAL_MS,
  };

  /** @param options where to connect and what to send */
  constructor(options: InteractionClientOptions = {}) {
    super();
    this.#options = options;
    this.#baseUrl = options.baseUrl ?? location.origin;
    this.#session = options.session;
    document.addEventListener("visibilitychange", () => this.#onVisible());
  }

  /** The session this client talks in, once started. */
  get sessionId(): string | undefined {
    return this.#session?.sessionId;
  }

  /** Current measurements. */
  get stats(): ClientStats {
    const player = this.#player?.stats;
    return {
      ...this.#stats,
      state: this.#state,
      playoutBufferMs: player?.bufferMs ?? 0,
      decodedFrames: player?.decodedFrames ?? 0,
      packetsUnacked: this.#unacked.size,
      videoIntervalMs: this.#videoInterval,
      audioEncoder: this.#microphone?.encoder,
    };
  }

  /** Creates (or reuses) the session, connects, and starts microphone, camera and playback. */
  async start(): Promise<void> {
    if (this.#state !== "idle") return;
    this.#setState("connecting");
    this.#session ??= await this.#createSession();
    this.#player = await AudioPlayer.open();
    this.#connect(this.#socketUrl({ token: this.#session.token }));
    this.#microphone = await Microphone.open((frame) => this.#sendAudio(frame), {
      encoder: this.#options.opusEncoder,
      wasmUrl: `${this.#baseUrl}/client/opus.wasm`,
    });
    if (this.#options.camera) {
      this.#camera = await Camera.open(this.#options.preview);
      this.#scheduleVideo();
    }
    this.#every(2000, () => this.#send(JSON.stringify({ type: "ping", t: performance.now() })));
    this.#every(500, () => this.#emit("stats", this.stats));
  }

  /** Sends typed text. */
  sendText(text: string): void {
    const timestampMs = Math.round(performance.now() - this.#mediaStart);
    this.#send(JSON.stringify({ type: "text", text, timestampMs }));
  }

  /**
   * Hands `request` to the background model; its progress arrives as `task` events and its
   * result joins the conversation at a pause (at once when `urgent`). `tool` makes the
   * background model call that tool (`server__tool`) first.
   */
  delegate(request: string, options: { urgent?: boolean; tool?: string } = {}): void {
    this.#send(JSON.stringify({ type: "delegate", request, ...options }));
  }

  /** Cancels a running background task. */
  cancelTask(id: string): void {
    this.#send(JSON.stringify({ type: "cancel_task", id }));
  }

  /** Says goodbye, stops capture and playback. */
  async stop(): Promise<void> {
    if (this.#state === "closed") return;
    // The last frames, fewer than a packet, go before the goodbye.
    const last = this.#uplink.flush();
    if (last) this.#sendPacket(last);
    this.#setState("closed");
    for (const timer of this.#timers) clearTimeout(timer);
    this.#send(JSON.stringify({ type: "bye" }));
    await this.#microphone?.stop();
    this.#camera?.stop();
    await this.#player?.stop();
  }

  async #createSession(): Promise<{ sessionId: string; token: string }> {
    const response = await fetch(`${this.#baseUrl}/v1/sessions`, { method: "POST" });
    if (!response.ok) throw new Error(`cannot create a session: ${response.status}`);
    return await response.json();
  }

  #socketUrl(query: Record<string, string>): string {
    const base = this.#baseUrl.replace(/^http/, "ws");
    return `${base}/v1/sessions/${this.#session!.sessionId}/ws?${new URLSearchParams(query)}`;
  }

  #connect(url: string): void {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.#receive(JSON.parse(event.data) as ServerMessage);
      else {
        const { payload, marker } = parseRtpPacket(new Uint8Array(event.data as ArrayBuffer));
        this.#player?.play(payload, marker);
      }
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket || this.#state === "closed") return;
      if (event.code === 4412) {
        // Not live on that edge any more: reopen the session from the store, anywhere.
        this.#reopen();
        return;
      }
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.#setState("closed");
        return;
      }
      this.#scheduleReconnect();
    };
  }

  #receive(message: ServerMessage): void {
    switch (message.type) {
      case "ready": {
        this.#resumeToken = message.resumeToken;
        this.#retryMs = 250;
        this.#setState("live");
        // Replay what the edge may not have: after its acknowledgement, or after ours.
        this.#replay(message.acknowledged ?? this.#lastAck);
        this.#emit("ready", message);
        break;
      }
      case "ack":
        this.#acknowledge(message.sequence);
        break;
      case "output":
        if (message.ack !== undefined) this.#acknowledge(message.ack);
        if (message.stats) this.#takeStats(message.stats);
        this.#emit("output", {
          index: message.index,
          text: message.text,
          control: message.control,
          atMs: Date.now(),
        });
        break;
      case "stats":
        this.#takeStats(message);
        break;
      case "pong":
        this.#stats.roundTripMs = performance.now() - message.t;
        break;
      case "task":
        this.#emit("task", message);
        break;
      case "error":
        this.#emit("error", message);
        break;
      case "closed":
        break;
    }
  }

  /** The edge's once-a-second link counters, on an `output` or alone. */
  #takeStats({ jitter }: SessionStats): void {
    this.#stats.jitterMs = jitter.targetDelayMs;
    this.#stats.edgeBufferMs = jitter.currentDelayMs;
    this.#stats.lateFrames = jitter.lateFrames;
    this.#stats.concealedFrames = jitter.concealedFrames;
  }

  #sendAudio(frame: EncodedFrame): void {
    // The encoder's last frames, given back while capture stops, go nowhere: `stop` said bye.
    if (this.#state === "closed") return;
    for (const packet of this.#uplink.push(frame.payload)) this.#sendPacket(packet);
    this.#emit("level", frame.level);
  }

  /** Sends one packet of audio, kept until the edge acknowledges it. */
  #sendPacket({ payload, frames }: UplinkPacket): void {
    const sequence = this.#sequence++;
    const packet = serializeRtpPacket({
      payloadType: OPUS_PAYLOAD_TYPE,
      marker: this.#stats.packetsSent === 0,
      sequenceNumber: sequence & 0xffff,
      timestamp: this.#timestamp >>> 0,
      ssrc: this.#ssrc,
      payload,
    });
    this.#timestamp += frames * RTP_TICKS_PER_FRAME;
    this.#stats.packetsSent++;
    this.#unacked.set(sequence, packet);
    if (this.#unacked.size > MAX_UNACKED_PACKETS) {
      this.#unacked.delete(this.#unacked.keys().next().value!);
    }
    this.#send(packet);
  }

  /** Forgets every packet up to the 16-bit `sequence`. */
  #acknowledge(sequence: number): void {
    const newest = this.#sequence - 1;
    const extended = newest - ((newest - sequence) & 0xffff);
    this.#lastAck = extended;
    for (const key of this.#unacked.keys()) {
      if (key > extended) break;
      this.#unacked.delete(key);
    }
  }

  /** Resends every kept packet after the 16-bit `after` (all of them when undefined). */
  #replay(after: number | undefined): void {
    const newest = this.#sequence - 1;
    const from = after === undefined ? -Infinity : newest - ((newest - after) & 0xffff);
    for (const [key, packet] of this.#unacked) if (key > from) this.#send(packet);
  }

  #send(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.#socket?.readyState === WebSocket.OPEN && this.#state === "live") {
      this.#socket.send(data);
    } else if (typeof data === "string" && this.#socket?.readyState === WebSocket.OPEN) {
      this.#socket.send(data);
    }
  }

  #scheduleReconnect(): void {
    this.#setState("reconnecting");
    const delay = this.#retryMs;
    this.#retryMs = Math.min(4000, this.#retryMs * 2);
    this.#timers.push(setTimeout(() => this.#reconnectNow(), delay));
  }

  #reconnectNow(): void {
    if (this.#state !== "reconnecting") return;
    this.#stats.reconnects++;
    const query: Record<string, string> = { resume: this.#resumeToken ?? "" };
    if (this.#lastAck !== undefined) query.ack = String(this.#lastAck & 0xffff);
    this.#connect(this.#socketUrl(query));
  }

  /** The session is not live where we were: ask any edge to reopen it, then connect. */
  async #reopen(): Promise<void> {
    this.#setState("reconnecting");
    try {
      const response = await fetch(
        `${this.#baseUrl}/v1/sessions/${this.#session!.sessionId}/resume`,
        { method: "POST", headers: { authorization: `Bearer ${this.#session!.token}` } },
      );
      if (!response.ok) throw new Error(`resume refused: ${response.status}`);
      const { token } = await response.json();
      this.#session = { ...this.#session!, token };
      this.#stats.reconnects++;
      this.#connect(this.#socketUrl({ token }));
    } catch {
      this.#scheduleReconnect();
    }
  }

  #scheduleVideo(): void {
    this.#timers.push(setTimeout(async () => {
      if (this.#state === "closed") return;
      const socket = this.#socket;
      if (this.#state === "live" && socket && socket.bufferedAmount < BACKED_UP_BYTES) {
        const jpeg = await this.#camera?.capture();
        if (jpeg) {
          const timestampMs = Math.round(performance.now() - this.#mediaStart);
          this.#send(serializeVideoMessage({ timestampMs, jpeg }));
          this.#stats.videoFramesSent++;
        }
        this.#videoInterval = Math.max(VIDEO_BASE_INTERVAL_MS, this.#videoInterval * 0.8);
      } else {
        // Backed up (or away): video goes first, audio keeps its bandwidth.
        this.#videoInterval = Math.min(VIDEO_MAX_INTERVAL_MS, this.#videoInterval * 2);
      }
      this.#scheduleVideo();
    }, this.#videoInterval));
  }

  #every(ms: number, run: () => void): void {
    const tick = () => {
      if (this.#state === "closed") return;
      run();
      this.#timers.push(setTimeout(tick, ms));
    };
    this.#timers.push(setTimeout(tick, ms));
  }

  /** Back from the background: wake the audio and reconnect at once if the socket died. */
  #onVisible(): void {
    if (document.visibilityState !== "visible" || this.#state === "idle") return;
    this.#microphone?.resume();
    this.#player?.resume();
    if (this.#state === "reconnecting") {
      this.#retryMs = 250;
      this.#reconnectNow();
    }
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit("state", state);
  }

  #emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
