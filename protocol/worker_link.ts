/**
 * Binary frames of the edge <-> worker link: one WebSocket per edge-worker pair, every
 * session multiplexed over it. Layouts are in docs/protocol.md; this module lays out each frame
 * type (with the header and field codec of protocol/link_frame_io.ts), and protocol/link_batch.ts
 * puts several frames in one message; no other code reads or writes them.
 *
 * Every frame starts with the same 22-byte header:
 * `u8 version | u8 type | 16 bytes session id | u32 micro-turn index` (big-endian).
 * Data frames (micro-turn, output, the output whose audio the worker encoded as Opus) are
 * packed binary; rare control frames carry UTF-8 JSON.
 *
 * @module
 */
import { DMEL_BINS, PATCH_BYTES } from "./media_format.ts";
import {
  FrameReader,
  FrameWriter,
  LINK_SESSION_ID,
  MalformedLinkFrameError,
  WORKER_LINK_VERSION,
} from "./link_frame_io.ts";

export { LINK_SESSION_ID, MalformedLinkFrameError, WORKER_LINK_VERSION };

/** What the model decided to do in a micro-turn (the control head's argmax). */
export type ControlAction = "silent" | "speak" | "delegate";
const CONTROL_ACTIONS: ControlAction[] = ["silent", "speak", "delegate"];

/** How a 20 ms input frame came to be; {@linkcode MicroTurn.frameOrigins} holds indexes. */
export const FRAME_ORIGINS = ["decoded", "fec", "concealed", "missing"] as const;

/** Flag bits of a micro-turn's input. */
export const MicroTurnFlags = {
  /** Some audio arrived after its own micro-turn closed and is delivered here. */
  LATE_AUDIO: 1,
  /** Some audio frames were synthesized by loss concealment. */
  CONCEALED_AUDIO: 2,
  /** No input arrived for this micro-turn; it exists to keep the model's sense of time. */
  INPUT_MISSING: 4,
} as const;

/** 200 ms of one session's input, as the edge assembled it. */
export interface MicroTurn {
  /** Session id (UUID). */
  sessionId: string;
  /** Micro-turn index: media time [200 * index, 200 * index + 200) ms. */
  index: number;
  /** Wall clock (ms since the epoch) when the edge closed the micro-turn. */
  wallClockMs: number;
  /** Bit set of {@linkcode MicroTurnFlags}. */
  flags: number;
  /** Number of dMel frames: 20 on-time ones, then two per late audio frame. */
  dmelFrames: number;
  /** dMel codes, `dmelFrames * DMEL_BINS` bytes, frame-major. */
  dmel: Uint8Array;
  /** How each of the 10 on-time 20 ms frames came to be: a {@linkcode FRAME_ORIGINS} index. */
  frameOrigins: Uint8Array;
  /** Media time (ms) of each late 20 ms frame appended after the on-time dMel frames. */
  lateMediaMs: number[];
  /** UTF-8 text the user typed in this micro-turn. */
  text: string;
  /** Number of 40x40 RGB patches. */
  patchCount: number;
  /** Patch bytes, `patchCount * 40 * 40 * 3`, patch-major, RGB interleaved. */
  patches: Uint8Array;
}

/** 200 ms of one session's output, as the worker's model produced it. */
export interface MicroTurnOutput {
  /** Session id (UUID). */
  sessionId: string;
  /** Index of the micro-turn this answers. */
  index: number;
  /** The control head's decision. */
  control: ControlAction;
  /** Time the model step took, in ms (for the edge's latency accounting). */
  stepMs: number;
  /** 16 kHz mono PCM, normally 3200 samples; empty when `opus` carries the audio. */
  audio: Int16Array;
  /**
   * The audio encoded on the worker, for a session opened with `audio: "opus"`: one Opus
   * payload per 20 ms frame, an empty one for a frame of silence (not to be sent), null for an
   * audible frame whose payload follows in the micro-turn's `audio_rest` frame.
   */
  opus?: (Uint8Array | null)[];
  /** UTF-8 text the model emitted in this micro-turn (may be empty). */
  text: string;
}

/** A control frame's JSON body. */
export type LinkControlBody = Record<string, unknown>;

/** Every frame the link carries. */
export type WorkerLinkFrame =
  | { type: "open"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "opened"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "close"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "error"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "event"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "rebuild"; sessionId: string; index: number; body: LinkControlBody }
  | { type: "micro_turn"; turn: MicroTurn }
  | { type: "replay"; sessionId: string; turns: MicroTurn[] }
  | { type: "output"; output: MicroTurnOutput }
  | {
    /** The payloads of the frames an Opus `output` left null, in order. */
    type: "audio_rest";
    sessionId: string;
    index: number;
    payloads: Uint8Array[];
  };

const TYPE_CODES = {
  open: 1,
  opened: 2,
  close: 3,
  error: 4,
  micro_turn: 5,
  output: 6,
  event: 7,
  rebuild: 8,
  replay: 9,
  audio_rest: 11,
} as const;
/** Type code of an `output` frame whose audio is Opus payloads (`MicroTurnOutput.opus`). */
const OPUS_OUTPUT_CODE = 10;
/** Frames an Opus output (or its rest) carries at most (a micro-turn has 10). */
const MAX_OUTPUT_FRAMES = 255;
/** The size written for a frame whose payload follows in an `audio_rest` frame. */
const OWED_SIZE = 0xffff;

/**
 * Micro-turns a `replay` frame carries at most: the recent inputs an edge keeps for a rebuild
 * (12.8 s, 640 positions: with a rebuild's text they fit in three quarters of the base model's
 * 1280-position window; a smaller model's worker replays the newest that fit).
 */
export const MAX_REPLAY_MICRO_TURNS = 64;
const TYPE_NAMES = Object.fromEntries(
  Object.entries(TYPE_CODES).map(([name, code]) => [code, name]),
) as Record<number, WorkerLinkFrame["type"]>;

const encoder = new TextEncoder();

/** Encodes one frame. */
export function encodeLinkFrame(frame: WorkerLinkFrame): Uint8Array<ArrayBuffer> {
  switch (frame.type) {
    case "micro_turn": {
      const { turn } = frame;
      const text = encoder.encode(turn.text);
      const writer = new FrameWriter(
        TYPE_CODES[frame.type],
        turn.sessionId,
        turn.index,
        microTurnBytes(turn, text),
      );
      return writeMicroTurn(writer, turn, text).done();
    }
    case "replay": {
      const texts = frame.turns.map((turn) => encoder.encode(turn.text));
      const writer = new FrameWriter(
        TYPE_CODES[frame.type],
        frame.sessionId,
        frame.turns.length,
        frame.turns.reduce((sum, turn, i) => sum + 4 + microTurnBytes(turn, texts[i]), 0),
      );
      frame.turns.forEach((turn, i) => writeMicroTurn(writer.u32(turn.index), turn, texts[i]));
      return writer.done();
    }
    case "audio_rest": {
      const { payloads } = frame;
      if (payloads.length > MAX_OUTPUT_FRAMES) {
        throw new RangeError(`an audio rest carries at most ${MAX_OUTPUT_FRAMES} Opus frames`);
      }
      const payloadBytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
      const writer = new FrameWriter(
        TYPE_CODES[frame.type],
        frame.sessionId,
        frame.index,
        1 + 2 * payloads.length + payloadBytes,
      );
      return writePayloads(writer.u8(payloads.length), payloads).done();
    }
    case "output": {
      const { output } = frame;
      const text = encoder.encode(output.text);
      if (output.opus) return writeOpusOutput(output, text);
      const audio = output.audio;
      const writer = new FrameWriter(
        TYPE_CODES[frame.type],
        output.sessionId,
        output.index,
        1 + 4 + 4 + 2 * audio.length + 4 + text.length,
      );
      writer.u8(CONTROL_ACTIONS.indexOf(output.control)).f32(output.stepMs).u32(audio.length);
      for (let i = 0; i < audio.length; i++) writer.i16(audio[i]);
      writer.u32(text.length).bytes(text);
      return writer.done();
    }
    default: {
      const body = encoder.encode(JSON.stringify(frame.body));
      return new FrameWriter(TYPE_CODES[frame.type], frame.sessionId, frame.index, body.length)
        .bytes(body)
        .done();
    }
  }
}

/**
 * Decodes one frame; throws {@linkcode MalformedLinkFrameError} for bad bytes. An output's Opus
 * payloads are views of `bytes`, which the caller must not reuse.
 */
export function decodeLinkFrame(bytes: Uint8Array): WorkerLinkFrame {
  const reader = new FrameReader(bytes);
  const version = reader.u8();
  if (version !== WORKER_LINK_VERSION) {
    throw new MalformedLinkFrameError(`version ${version}, expected ${WORKER_LINK_VERSION}`);
  }
  const code = reader.u8();
  const type = code === OPUS_OUTPUT_CODE ? "output" : TYPE_NAMES[code];
  if (!type) throw new MalformedLinkFrameError(`unknown type ${bytes[1]}`);
  const sessionId = reader.uuid();
  const index = reader.u32();
  let frame: WorkerLinkFrame;
  if (code === OPUS_OUTPUT_CODE) {
    frame = { type: "output", output: readOpusOutput(reader, sessionId, index) };
  } else if (type === "micro_turn") {
    frame = { type, turn: readMicroTurn(reader, sessionId, index) };
  } else if (type === "audio_rest") {
    const sizes = Array.from({ length: reader.u8() }, () => reader.u16());
    if (sizes.includes(OWED_SIZE)) throw new MalformedLinkFrameError("an owed frame in a rest");
    frame = { type, sessionId, index, payloads: sizes.map((size) => reader.view(size)) };
  } else if (type === "replay") {
    if (index > MAX_REPLAY_MICRO_TURNS) {
      throw new MalformedLinkFrameError(
        `replay of ${index} micro-turns, at most ${MAX_REPLAY_MICRO_TURNS}`,
      );
    }
    const turns = Array.from(
      { length: index },
      () => readMicroTurn(reader, sessionId, reader.u32()),
    );
    frame = { type, sessionId, turns };
  } else if (type === "output") {
    const control = readControl(reader);
    const stepMs = reader.f32();
    const audio = new Int16Array(reader.u32());
    for (let i = 0; i < audio.length; i++) audio[i] = reader.i16();
    const text = reader.text(reader.u32());
    frame = { type, output: { sessionId, index, control, stepMs, audio, text } };
  } else {
    let body: unknown;
    try {
      body = JSON.parse(reader.text(reader.remaining()));
    } catch (error) {
      if (error instanceof MalformedLinkFrameError) throw error;
      throw new MalformedLinkFrameError(`control body is not JSON`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new MalformedLinkFrameError(`control body is not a JSON object`);
    }
    frame = { type, sessionId, index, body: body as LinkControlBody };
  }
  if (reader.remaining() !== 0) {
    throw new MalformedLinkFrameError(`${reader.remaining()} trailing bytes`);
  }
  return frame;
}

/** An output whose audio is Opus payloads: control, step, payload sizes, payloads, text. */
function writeOpusOutput(output: MicroTurnOutput, text: Uint8Array): Uint8Array<ArrayBuffer> {
  const payloads = output.opus!;
  if (payloads.length > MAX_OUTPUT_FRAMES) {
    throw new RangeError(`an output carries at most ${MAX_OUTPUT_FRAMES} Opus frames`);
  }
  const payloadBytes = payloads.reduce((sum, payload) => sum + (payload?.length ?? 0), 0);
  const writer = new FrameWriter(
    OPUS_OUTPUT_CODE,
    output.sessionId,
    output.index,
    1 + 4 + 1 + 2 * payloads.length + payloadBytes + 4 + text.length,
  );
  writer.u8(CONTROL_ACTIONS.indexOf(output.control)).f32(output.stepMs).u8(payloads.length);
  return writePayloads(writer, payloads).u32(text.length).bytes(text).done();
}

/** Each payload's size ({@linkcode OWED_SIZE} for a null one), then the payloads. */
function writePayloads(writer: FrameWriter, payloads: readonly (Uint8Array | null)[]): FrameWriter {
  for (const payload of payloads) writer.u16(payload ? payload.length : OWED_SIZE);
  for (const payload of payloads) if (payload) writer.bytes(payload);
  return writer;
}

/** The PCM of an output whose audio is Opus: none (one array for all, it has no room to write). */
const NO_SAMPLES = new Int16Array(0);

function readOpusOutput(reader: FrameReader, sessionId: string, index: number): MicroTurnOutput {
  const control = readControl(reader);
  const stepMs = reader.f32();
  const sizes = Array.from({ length: reader.u8() }, () => reader.u16());
  const opus = sizes.map((size) => size === OWED_SIZE ? null : reader.view(size));
  const text = reader.text(reader.u32());
  return { sessionId, index, control, stepMs, audio: NO_SAMPLES, opus, text };
}

function readControl(reader: FrameReader): ControlAction {
  const code = reader.u8();
  const control = CONTROL_ACTIONS[code];
  if (!control) throw new MalformedLinkFrameError(`unknown control action ${code}`);
  return control;
}

/** Body bytes of a micro-turn whose text encodes to `text`. */
function microTurnBytes(turn: MicroTurn, text: Uint8Array): number {
  return 8 + 2 + 2 + turn.dmel.length + 1 + turn.frameOrigins.length + 2 +
    4 * turn.lateMediaMs.length + 4 + text.length + 2 + turn.patches.length;
}

function writeMicroTurn(writer: FrameWriter, turn: MicroTurn, text: Uint8Array): FrameWriter {
  writer.f64(turn.wallClockMs).u16(turn.flags).u16(turn.dmelFrames).bytes(turn.dmel);
  writer.u8(turn.frameOrigins.length).bytes(turn.frameOrigins).u16(turn.lateMediaMs.length);
  for (const mediaMs of turn.lateMediaMs) writer.u32(mediaMs);
  return writer.u32(text.length).bytes(text).u16(turn.patchCount).bytes(turn.patches);
}

function readMicroTurn(reader: FrameReader, sessionId: string, index: number): MicroTurn {
  const wallClockMs = reader.f64();
  const flags = reader.u16();
  const dmelFrames = reader.u16();
  const dmel = reader.bytes(dmelFrames * DMEL_BINS);
  const frameOrigins = reader.bytes(reader.u8());
  const lateMediaMs = Array.from({ length: reader.u16() }, () => reader.u32());
  const text = reader.text(reader.u32());
  const patchCount = reader.u16();
  const patches = reader.bytes(patchCount * PATCH_BYTES);
  return {
    sessionId,
    index,
    wallClockMs,
    flags,
    dmelFrames,
    dmel,
    frameOrigins,
    lateMediaMs,
    text,
    patchCount,
    patches,
  };
}
