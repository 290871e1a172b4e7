/**
 * A session's output audio on its way to the client: the packetizer places each 20 ms frame in
 * the stream as a micro-turn's output arrives (silence left out), and the pacer sends a packet
 * of up to 100 ms of consecutive frames when its first is due, encoding them as it goes unless
 * the worker sent them encoded (pipeline/egress_packetizer.ts, pipeline/egress_pacer.ts). An
 * adapter speaking linear PCM gets its frames at once, a packet each, unpaced: its clients
 * buffer their own playout (the Realtime API's do).
 *
 * @module
 */
import { type EgressFrame, EgressPacketizer } from "../pipeline/egress_packetizer.ts";
import { EgressPacer, type EgressStats, type PacedSink } from "../pipeline/egress_pacer.ts";
import { AUDIO_FRAME_MS, AUDIO_PACKET_MS, type AudioCodec } from "../protocol/media_format.ts";
import type { MicroTurnOutput } from "../protocol/worker_link.ts";

/** Options of {@linkcode SessionEgress}. */
export interface SessionEgressOptions {
  /** The client's audio codec (default Opus). */
  codec?: AudioCodec;
  /** Above this many bytes queued on the socket, the due packet is dropped. */
  maxBufferedBytes: number;
  /** Told of frames the pacer drops. */
  onDrop: (frames: number) => void;
}

/** One session's output audio; see the module doc. */
export class SessionEgress {
  readonly #socket: () => PacedSink | undefined;
  readonly #packetizer: EgressPacketizer;
  readonly #pacer: EgressPacer<EgressFrame>;
  /** Linear PCM goes out unpaced. */
  readonly #paced: boolean;

  /**
   * @param socket the client's socket while it is open, else undefined
   * @param options codec and limits
   */
  constructor(socket: () => PacedSink | undefined, options: SessionEgressOptions) {
    this.#socket = socket;
    this.#packetizer = new EgressPacketizer(Math.random, options.codec);
    this.#paced = options.codec !== "l16";
    this.#pacer = new EgressPacer(socket, {
      render: (frames) => this.#packetizer.packet(frames),
      ready: (frame) => this.#packetizer.ready(frame),
      joins: (previous, next) => this.#packetizer.joins(previous, next),
      maxFramesPerPacket: AUDIO_PACKET_MS / AUDIO_FRAME_MS,
      maxBufferedBytes: options.maxBufferedBytes,
      onDrop: (frames) => {
        this.#packetizer.dropped();
        options.onDrop(frames);
      },
    });
  }

  /** The paced output's counters. */
  get stats(): EgressStats {
    return this.#pacer.stats;
  }

  /**
   * The frames of a micro-turn's output that will be sent: its Opus payloads when its worker
   * encoded it, else its PCM (all of it silence when the model chose not to speak); hand them
   * to {@linkcode send} once the output message has gone.
   */
  frames(output: Pick<MicroTurnOutput, "audio" | "opus" | "control">): EgressFrame[] {
    if (output.opus) return this.#packetizer.encodedFrames(output.opus);
    return this.#packetizer.frames(output.audio, output.control === "silent");
  }

  /** Sends `frames`: paced (Opus, encoded as each goes out if need be) or at once (linear PCM). */
  send(frames: EgressFrame[]): void {
    if (this.#paced) return this.#pacer.push(frames);
    for (const frame of frames) {
      const packet = this.#packetizer.packet([frame]);
      if (packet) this.#socket()?.send(packet);
    }
  }

  /** Moves the media clock over `frames` frames of output that never reached the client. */
  skip(frames: number): void {
    this.#packetizer.skip(frames);
  }

  /** Drops what waits to be sent (the socket closed). */
  dropQueued(): void {
    this.#pacer.close();
  }

  /** Sends what waits (the session is ending) and frees the encoder. */
  finish(): void {
    this.#pacer.flush();
    this.#packetizer.close();
  }

  /** Drops what waits and frees the encoder. */
  close(): void {
    this.#pacer.close();
    this.#packetizer.close();
  }
}
