/**
 * A test client speaking protocol v1: creates a session over HTTP, connects its WebSocket,
 * sends RTP/Opus and JSON, and records everything the edge sends back, with waits keyed on
 * messages (never on time).
 *
 * @module
 */
import { type OpusDecoder, OpusEncoder } from "../../pipeline/opus_codec.ts";
import { isEmptyOpusPacket, joinOpusPackets } from "../../pipeline/opus_packet.ts";
import { rmsLevel, SilenceGate } from "../../pipeline/silence_floor.ts";
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from "../../pipeline/rtp_packet.ts";
import type { ServerMessage } from "../../protocol/client_messages.ts";
import {
  OPUS_PAYLOAD_TYPE,
  RTP_TICKS_PER_FRAME,
  SAMPLES_PER_FRAME,
} from "../../protocol/media_format.ts";

/** A created session. */
export interface CreatedSession {
  /** Session id. */
  sessionId: string;
  /** Its token. */
  token: string;
}

/** Creates a session on the edge at `baseUrl`, with an operator `credential` outside dev mode. */
export async function createSession(baseUrl: string, credential?: string): Promise<CreatedSession> {
  const response = await fetch(`${baseUrl}/v1/sessions`, {
    method: "POST",
    headers: credential ? { authorization: `Bearer ${credential}` } : {},
  });
  if (response.status !== 201) throw new Error(`create session: ${response.status}`);
  return await response.json();
}

/**
 * A 20 ms frame of {@linkcode speechPackets} decoded as the edge decodes it
 * (pipeline/opus_decode_stage.ts): an empty frame, the SDK's silence, is silence.
 */
export function decodeAsEdge(decoder: OpusDecoder, payload: Uint8Array): Int16Array {
  return isEmptyOpusPacket(payload) ? new Int16Array(SAMPLES_PER_FRAME) : decoder.decode(payload);
}

/**
 * Encodes 16 kHz PCM as consecutive RTP/Opus packets starting at `firstSequence`: 20 ms
 * frames, `framesPerPacket` of them a packet (the SDK sends five: 100 ms), and frames under
 * the silence floor empty, as the SDK sends them.
 */
export function speechPackets(
  pcm: Int16Array,
  firstSequence = 1000,
  ssrc = 0x1234,
  framesPerPacket = 1,
): Uint8Array<ArrayBuffer>[] {
  const encoder = new OpusEncoder();
  const gate = new SilenceGate();
  const frames: Uint8Array[] = [];
  for (let i = 0; (i + 1) * SAMPLES_PER_FRAME <= pcm.length; i++) {
    const samples = pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME);
    frames.push(gate.pass(encoder.encode(samples), rmsLevel(samples)));
  }
  encoder.close();
  const packets: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i * framesPerPacket < frames.length; i++) {
    const first = i * framesPerPacket;
    packets.push(serializeRtpPacket({
      payloadType: OPUS_PAYLOAD_TYPE,
      marker: i === 0,
      sequenceNumber: (firstSequence + i) & 0xffff,
      timestamp: (first * RTP_TICKS_PER_FRAME) >>> 0,
      ssrc,
      payload: joinOpusPackets(frames.slice(first, first + framesPerPacket)),
    }));
  }
  return packets;
}

/** A connected client socket and what it received. */
export class ProtocolClient {
  /** JSON messages received, in order. */
  readonly messages: ServerMessage[] = [];
  /** `performance.now()` when each of `messages` arrived. */
  readonly arrivals: number[] = [];
  /** RTP packets received, in order. */
  readonly audio: RtpPacket[] = [];
  /** Close code and reason, once closed. */
  closed: { code: number; reason: string } | undefined;
  readonly #socket: WebSocket;
  #waiters: (() => void)[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.messages.push(JSON.parse(event.data));
        this.arrivals.push(performance.now());
      } else this.audio.push(parseRtpPacket(new Uint8Array(event.data)));
      this.#wake();
    };
    socket.onclose = (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.#wake();
    };
  }

  /** Connects to a session's socket (with `token`, which may be anything for refusal tests). */
  static connect(baseUrl: string, sessionId: string, token: string): Promise<ProtocolClient> {
    return ProtocolClient.#open(baseUrl, sessionId, `token=${encodeURIComponent(token)}`);
  }

  /**
   * Creates a session on the edge at `baseUrl`, connects to it and waits for `ready`: what
   * most tests start with.
   */
  static async open(baseUrl: string): Promise<
    CreatedSession & {
      client: ProtocolClient;
      ready: Extract<ServerMessage, { type: "ready" }>;
    }
  > {
    const session = await createSession(baseUrl);
    const client = await ProtocolClient.connect(baseUrl, session.sessionId, session.token);
    return { ...session, client, ready: await client.message("ready") };
  }

  /** Reconnects to a live session with its resume token and the last acknowledgement seen. */
  static resume(
    baseUrl: string,
    sessionId: string,
    resumeToken: string,
    ack?: number,
  ): Promise<ProtocolClient> {
    const query = `resume=${encodeURIComponent(resumeToken)}` +
      (ack === undefined ? "" : `&ack=${ack}`);
    return ProtocolClient.#open(baseUrl, sessionId, query);
  }

  static async #open(baseUrl: string, sessionId: string, query: string): Promise<ProtocolClient> {
    const url = `${baseUrl.replace("http", "ws")}/v1/sessions/${sessionId}/ws?${query}`;
    const socket = new WebSocket(url);
    const client = new ProtocolClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), {
        once: true,
      });
    });
    return client;
  }

  /** Sends a binary or text message. */
  send(data: string | Uint8Array<ArrayBuffer>): void {
    this.#socket.send(data);
  }

  /** Resolves once `condition` holds (checked on every message and on close). */
  async until(condition: (client: this) => boolean, what: string): Promise<void> {
    while (!condition(this)) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) before ${what}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Resolves with the first received message of `type` matching `where`. */
  async message<T extends ServerMessage["type"]>(
    type: T,
    where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const find = () =>
      this.messages.find((m) =>
        m.type === type && where(m as Extract<ServerMessage, { type: T }>)
      ) as
        | Extract<ServerMessage, { type: T }>
        | undefined;
    await this.until(() => find() !== undefined, `a ${type} message`);
    return find()!;
  }

  /** The newest input sequence acknowledged so far, by an `ack` message or an `output`'s `ack`. */
  get lastAck(): number | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const acked = acknowledgedBy(this.messages[i]);
      if (acked !== undefined) return acked;
    }
    return undefined;
  }

  /** Resolves with the first acknowledged sequence (in either form) that `where` accepts. */
  async acknowledged(where: (sequence: number) => boolean): Promise<number> {
    const find = () => this.messages.map(acknowledgedBy).find((s) => s !== undefined && where(s));
    await this.until(() => find() !== undefined, "an acknowledgement");
    return find()!;
  }

  /** Resolves with the close code once the server closed the socket. */
  async closedWith(): Promise<{ code: number; reason: string }> {
    while (!this.closed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.closed;
  }

  /** Closes from the client side. */
  close(): void {
    this.#socket.close();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The input sequence `message` acknowledges, if any. */
function acknowledgedBy(message: ServerMessage): number | undefined {
  if (message.type === "ack") return message.sequence;
  return message.type === "output" ? message.ack : undefined;
}
