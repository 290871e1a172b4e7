/**
 * The media constants every stage agrees on. Each number says where it comes from, so a
 * reader can change one knowing what else moves with it.
 *
 * @module
 */

/** Sample rate of the model's audio, in and out (dMel is defined on 16 kHz speech). */
export const SAMPLE_RATE_HZ = 16_000;

/** RTP timestamp clock for Opus: always 48 kHz, whatever the coded rate (RFC 7587 §4.1). */
export const RTP_CLOCK_RATE_HZ = 48_000;

/** Duration of one Opus frame on the wire: 20 ms is WebRTC's default packetization. */
export const AUDIO_FRAME_MS = 20;

/**
 * Audio the SDK sends in one packet, ms: five 20 ms Opus frames in one RTP packet (RFC 7587
 * allows up to 120 ms). A micro-turn is two packets, each sent the moment its last frame is
 * encoded, so a micro-turn is complete at the edge as early as with 20 ms packets, while the
 * edge handles a fifth of the messages and a mobile uplink carries a fifth of the headers
 * (about 60 bytes a packet of RTP, WebSocket, TCP and IP: 24 kbit/s at 50 packets a second,
 * as much as the speech). It divides the micro-turn, so packets never straddle one.
 */
export const AUDIO_PACKET_MS = 100;

/** PCM samples in one 20 ms frame at 16 kHz. */
export const SAMPLES_PER_FRAME = (SAMPLE_RATE_HZ * AUDIO_FRAME_MS) / 1000;

/** RTP timestamp ticks in one 20 ms frame at the 48 kHz RTP clock. */
export const RTP_TICKS_PER_FRAME = (RTP_CLOCK_RATE_HZ * AUDIO_FRAME_MS) / 1000;

/** One micro-turn: the unit of time in which the model consumes and produces every stream. */
export const MICRO_TURN_MS = 200;

/** Audio frames in one micro-turn. */
export const FRAMES_PER_MICRO_TURN = MICRO_TURN_MS / AUDIO_FRAME_MS;

/** PCM samples in one micro-turn at 16 kHz (input and output audio alike). */
export const SAMPLES_PER_MICRO_TURN = (SAMPLE_RATE_HZ * MICRO_TURN_MS) / 1000;

/** dMel hop: one feature frame every 10 ms (Bai et al. 2024, "dMel"). */
export const DMEL_HOP_MS = 10;

/** dMel frames in one micro-turn. */
export const DMEL_FRAMES_PER_MICRO_TURN = MICRO_TURN_MS / DMEL_HOP_MS;

/** Mel bins per dMel frame (80, as in dMel and most speech front ends). */
export const DMEL_BINS = 80;

/** Discrete levels per mel bin: dMel quantizes each bin to 4 bits. */
export const DMEL_LEVELS = 16;

/** RTP payload type the edge expects for Opus: 111 is the dynamic type browsers offer for Opus. */
export const OPUS_PAYLOAD_TYPE = 111;

/**
 * RTP payload type of linear PCM inside the edge: 16-bit little-endian samples, 16 kHz mono,
 * 20 ms a packet, timestamps on the same 48 kHz clock as Opus. Never on the wire to a client:
 * adapters that receive PCM (the Realtime API's pcm16 and G.711) packetize it so it takes the
 * same jitter buffer and micro-turn clock as Opus, without an encode and decode in between.
 */
export const L16_PAYLOAD_TYPE = 118;

/** How a session's audio is coded between the edge and its client (or the client's adapter). */
export type AudioCodec = "opus" | "l16";

/** Side of one square image patch in pixels (the design's fixed 40x40 RGB grid). */
export const PATCH_SIDE = 40;

/** Bytes of one RGB patch. */
export const PATCH_BYTES = PATCH_SIDE * PATCH_SIDE * 3;

/** Width of the grid every camera frame is resized to (4 patches across). */
export const VIDEO_GRID_WIDTH = 160;

/** Height of that grid (3 patches down): 4:3, what phone and laptop cameras give. */
export const VIDEO_GRID_HEIGHT = 120;

/** Patches per camera frame, row-major. */
export const PATCHES_PER_FRAME = (VIDEO_GRID_WIDTH / PATCH_SIDE) * (VIDEO_GRID_HEIGHT / PATCH_SIDE);

/** First byte of a client's binary video message (RTP's first byte always has its top bit set). */
export const VIDEO_MESSAGE_TYPE = 0x01;
