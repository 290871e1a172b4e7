/**
 * The body of one {@linkcode OutputEncoderPool} thread: the Opus encoders of the sessions
 * placed on it, each kept from one micro-turn to the next (an Opus stream's state carries
 * across frames). Requests are answered in order: a micro-turn's audio comes back as one Opus
 * payload per 20 ms frame, packed into one transferred buffer, an empty one for silence (the
 * micro-turn the model marked silent, a frame under the floor of pipeline/output_silence.ts).
 *
 * @module
 */
import { OpusEncoder } from "../pipeline/opus_codec.ts";
import { belowSilenceFloor } from "../pipeline/output_silence.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";
import type { EncoderThreadReply, EncoderThreadRequest } from "./output_encoder_pool.ts";

declare const self: Worker;

const encoders = new Map<string, OpusEncoder>();

self.onmessage = (event: MessageEvent<EncoderThreadRequest>) => {
  const request = event.data;
  if (request.kind === "release") {
    encoders.get(request.sessionId)?.close();
    encoders.delete(request.sessionId);
    return;
  }
  let reply: EncoderThreadReply;
  try {
    const { sessionId, pcm, silent } = request;
    let encoder = encoders.get(sessionId);
    if (!encoder) encoders.set(sessionId, encoder = new OpusEncoder());
    const payloads: Uint8Array[] = [];
    for (let start = 0; start + SAMPLES_PER_FRAME <= pcm.length; start += SAMPLES_PER_FRAME) {
      const frame = pcm.subarray(start, start + SAMPLES_PER_FRAME);
      payloads.push(silent || belowSilenceFloor(frame) ? EMPTY : encoder.encode(frame));
    }
    const sizes = new Uint16Array(payloads.map((payload) => payload.length));
    const bytes = new Uint8Array(payloads.reduce((sum, payload) => sum + payload.length, 0));
    let offset = 0;
    for (const payload of payloads) {
      bytes.set(payload, offset);
      offset += payload.length;
    }
    reply = { id: request.id, sizes, bytes };
    self.postMessage(reply, [sizes.buffer, bytes.buffer]);
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    self.postMessage(reply);
  }
};

const EMPTY = new Uint8Array(0);
