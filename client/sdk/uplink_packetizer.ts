/**
 * The microphone's 20 ms Opus frames gathered into packets of {@linkcode AUDIO_PACKET_MS}
 * (five frames in one Opus packet, RFC 6716 §3.2, one RTP packet each): the edge handles a
 * fifth of the messages, and the uplink carries a fifth of the headers. Packets start on the
 * stream's 100 ms boundaries, which are the session's micro-turn boundaries (the edge anchors
 * the first packet at one), so each packet goes the moment its last frame is encoded and a
 * micro-turn is complete as early as with 20 ms packets. A frame whose configuration differs
 * from those gathered (the encoder changed mode or bandwidth) sends them first as a shorter
 * packet.
 *
 * @module
 */
import { joinOpusPackets, sameOpusConfiguration } from "../../pipeline/opus_packet.ts";
import { AUDIO_FRAME_MS, AUDIO_PACKET_MS } from "../../protocol/media_format.ts";

/** One packet's audio: its Opus payload and how many 20 ms frames it holds. */
export interface UplinkPacket {
  /** The Opus packet. */
  payload: Uint8Array<ArrayBuffer>;
  /** Its 20 ms frames. */
  frames: number;
}

/** Gathers 20 ms Opus frames into packets; see the module doc. */
export class UplinkPacketizer {
  readonly #framesPerPacket: number;
  #gathered: Uint8Array[] = [];
  /** Frames taken since the stream began. */
  #taken = 0;

  /** @param packetMs audio a packet holds, a multiple of 20 ms up to 120 (default 100) */
  constructor(packetMs = AUDIO_PACKET_MS) {
    this.#framesPerPacket = Math.max(1, Math.min(6, Math.round(packetMs / AUDIO_FRAME_MS)));
  }

  /** Takes the stream's next 20 ms frame; returns the packets it completes (none, one or two). */
  push(frame: Uint8Array): UplinkPacket[] {
    const packets: UplinkPacket[] = [];
    if (this.#gathered.length > 0 && !sameOpusConfiguration(this.#gathered[0], frame)) {
      packets.push(this.#packet());
    }
    this.#gathered.push(frame);
    if (++this.#taken % this.#framesPerPacket === 0) packets.push(this.#packet());
    return packets;
  }

  /** What is gathered, as a packet (capture stopped), if anything is. */
  flush(): UplinkPacket | undefined {
    return this.#gathered.length > 0 ? this.#packet() : undefined;
  }

  #packet(): UplinkPacket {
    const frames = this.#gathered;
    this.#gathered = [];
    return { payload: joinOpusPackets(frames), frames: frames.length };
  }
}
