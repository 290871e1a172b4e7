/**
 * The body of one {@linkcode OutputEncoderPool} thread: the Opus encoders of the sessions
 * placed on it, each kept from one micro-turn to the next (an Opus stream's state carries
 * across frames). Requests are answered in order. A micro-turn's audio comes in two parts: its
 * first frames (`encode`, answered with a size for every frame: an empty payload for silence,
 * {@linkcode OWED_FRAME} for an audible frame that comes later), then the rest (`rest`, the
 * payloads of those owed frames, from the PCM the first part left here). Silence is a
 * micro-turn the model marked silent, or a frame under the floor of
 * pipeline/silence_floor.ts. Payloads come back packed into one transferred buffer.
 *
 * @module
 */
import { OpusEncoder } from "../pipeline/opus_codec.ts";
import { belowSilenceFloor } from "../pipeline/silence_floor.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";
import {
  type EncoderThreadReply,
  type EncoderThreadRequest,
  OWED_FRAME,
} from "./output_encoder_pool.ts";

declare const self: Worker;

const encoders = new Map<string, OpusEncoder>();
/** Per session, the owed frames of its last `encode`, for its `rest`. */
const owed = new Map<string, Int16Array[]>();

self.onmessage = (event: MessageEvent<EncoderThreadRequest>) => {
  const request = event.data;
  if (request.kind === "release") {
    encoders.get(request.sessionId)?.close();
    encoders.delete(request.sessionId);
    owed.delete(request.sessionId);
    return;
  }
  try {
    const { sessionId } = request;
    let encoder = encoders.get(sessionId);
    if (!encoder) encoders.set(sessionId, encoder = new OpusEncoder());
    if (request.kind === "rest") {
      const frames = owed.get(sessionId) ?? [];
      owed.delete(sessionId);
      return reply(request.id, frames.map((frame) => encoder.encode(frame)), []);
    }
    const { pcm, silent, headFrames } = request;
    const payloads: Uint8Array[] = [];
    const later: Int16Array[] = [];
    const owedAt: number[] = [];
    for (let start = 0; start + SAMPLES_PER_FRAME <= pcm.length; start += SAMPLES_PER_FRAME) {
      const frame = pcm.subarray(start, start + SAMPLES_PER_FRAME);
      if (silent || belowSilenceFloor(frame)) payloads.push(EMPTY);
      else if (payloads.length < headFrames) payloads.push(encoder.encode(frame));
      else {
        owedAt.push(payloads.length);
        payloads.push(EMPTY);
        later.push(frame);
      }
    }
    if (later.length > 0) owed.set(sessionId, later);
    reply(request.id, payloads, owedAt);
  } catch (error) {
    const failed: EncoderThreadReply = {
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    };
    self.postMessage(failed);
  }
};

/** Replies with `payloads`, those at `owedAt` marked owed. */
function reply(id: number, payloads: Uint8Array[], owedAt: number[]): void {
  const sizes = new Uint16Array(payloads.map((payload) => payload.length));
  for (const at of owedAt) sizes[at] = OWED_FRAME;
  const bytes = new Uint8Array(payloads.reduce((sum, payload) => sum + payload.length, 0));
  let offset = 0;
  for (const payload of payloads) {
    bytes.set(payload, offset);
    offset += payload.length;
  }
  const answer: EncoderThreadReply = { id, sizes, bytes };
  self.postMessage(answer, [sizes.buffer, bytes.buffer]);
}

const EMPTY = new Uint8Array(0);
