/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Plays the model's audio: Opus RTP payloads -> WebCodecs AudioDecoder -> an AudioWorklet with
 * its own small playout buffer. Counts what it decoded and played, and how much it holds.
 *
 * @module
 */
import { loadWorklets } from "./worklets.ts";
import { OpusFrames } from "../../pipeline/opus_packet.ts";
// A 20 ms frame is as many samples at the player's 48 kHz as it is RTP ticks (RFC 7587).
import { RTP_CLOCK_RATE_HZ, RTP_TICKS_PER_FRAME } from "../../protocol/media_format.ts";

/** Playback counters. */
export interface PlayerStats {
  /** 20 ms frames decoded. */
  decodedFrames: number;
  /** Audio waiting in the playout buffer, ms. */
  bufferMs: number;
  /** Samples played. */
  playedSamples: number;
  /** Times the buffer ran dry inside a talkspurt (late audio, not the model's silence). */
  underruns: number;
}

/** A running player. */
export class AudioPlayer {
  readonly #context: AudioContext;
  readonly #node: AudioWorkletNode;
  readonly #decoder: AudioDecoder;
  /** Counters, updated as audio is decoded and played. */
  readonly stats: PlayerStats;
  #timestamp = 0;
  /** Whether each packet in the decoder continues a talkspurt, in decode order. */
  readonly #continues: boolean[];
  /** Reads each packet's duration. */
  readonly #frames = new OpusFrames();

  private constructor(
    context: AudioContext,
    node: AudioWorkletNode,
    decoder: AudioDecoder,
    stats: PlayerStats,
    continues: boolean[],
  ) {
    this.#continues = continues;
    this.#context = context;
    this.#node = node;
    this.#decoder = decoder;
    this.stats = stats;
  }

  /** Starts an audio context and a decoder. */
  static async open(): Promise<AudioPlayer> {
    const context = new AudioContext({ sampleRate: 48_000 });
    await loadWorklets(context);
    const node = new AudioWorkletNode(context, "playout", { outputChannelCount: [1] });
    node.connect(context.destination);
    const stats: PlayerStats = { decodedFrames: 0, bufferMs: 0, playedSamples: 0, underruns: 0 };
    const continues: boolean[] = [];
    const decoder = new AudioDecoder({
      output: (data) => {
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
        data.close();
        stats.decodedFrames += Math.round(samples.length / RTP_TICKS_PER_FRAME);
        node.port.postMessage({ samples, continues: continues.shift() ?? true }, [
          samples.buffer,
        ]);
      },
      error: (error) => console.error("opus decoder", error),
    });
    decoder.configure({ codec: "opus", sampleRate: 48_000, numberOfChannels: 1 });
    node.port.onmessage = (event) => {
      const { heldSamples, played, underruns } = event.data;
      stats.bufferMs = (heldSamples / context.sampleRate) * 1000;
      stats.playedSamples = played;
      stats.underruns = underruns;
    };
    return new AudioPlayer(context, node, decoder, stats, continues);
  }

  /**
   * Decodes and queues one Opus packet (20 ms, or several 20 ms frames: the edge sends up to
   * 100 ms a packet); `talkspurtStart` (the RTP marker bit) says it follows the model's silence
   * rather than continuing what played before.
   */
  play(payload: Uint8Array, talkspurtStart = false): void {
    if (this.#decoder.state !== "configured") return;
    let ticks = RTP_TICKS_PER_FRAME;
    try {
      const frames = this.#frames.read(payload);
      ticks = frames.count * frames.frameTicks;
    } catch {
      // Not an Opus packet: the decoder reports it.
    }
    this.#continues.push(!talkspurtStart);
    this.#decoder.decode(
      new EncodedAudioChunk({ type: "key", timestamp: this.#timestamp, data: payload }),
    );
    this.#timestamp += (ticks * 1_000_000) / RTP_CLOCK_RATE_HZ;
  }

  /** Resumes the audio context (after a user gesture, or when the tab comes back). */
  async resume(): Promise<void> {
    if (this.#context.state === "suspended") await this.#context.resume();
  }

  /** Stops playback. */
  async stop(): Promise<void> {
    this.#node.port.postMessage("flush");
    this.#decoder.close();
    await this.#context.close();
  }
}
