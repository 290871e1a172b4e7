import assert from "node:assert/strict";
import { OpusDecodeStage } from "./opus_decode_stage.ts";
import { OpusDecoder, OpusEncoder } from "./opus_codec.ts";
import { emptyOpusFrameLike } from "./opus_packet.ts";
import type { AudioSlotFrame, IngressFrame, PcmOrigin } from "./ingress_frames.ts";
import { speechFixture } from "../tests/support/speech_fixture.ts";
import { SAMPLES_PER_FRAME } from "../protocol/media_format.ts";

/** 20 ms Opus frames of the fixture's "Hello" (from 0.7 s). */
function speechFrames(count: number): Uint8Array[] {
  const pcm = speechFixture().subarray(11_200);
  const encoder = new OpusEncoder();
  return Array.from(
    { length: count },
    (_, i) => encoder.encode(pcm.subarray(i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME)),
  );
}

/** What the stage makes of `slots`: each frame's samples (copied) and origin. */
function decodeSlots(slots: AudioSlotFrame[]): { samples: Int16Array; origin: PcmOrigin }[] {
  const stage = new OpusDecodeStage();
  const out: { samples: Int16Array; origin: PcmOrigin }[] = [];
  for (const slot of slots) {
    stage.transform(slot, (frame: IngressFrame) => {
      if (frame.type === "pcm") out.push({ samples: frame.samples.slice(), origin: frame.origin });
    });
  }
  stage.close();
  return out;
}

const slot = (frameIndex: number, payload: Uint8Array | null): AudioSlotFrame => ({
  type: "audio_slot",
  frameIndex,
  payload,
  ...(payload ? {} : { fill: "conceal" as const }),
});

Deno.test("an empty Opus frame (the client's silence) is silence, decoded, and so is a loss inside silence", () => {
  const speech = speechFrames(8);
  const empty = emptyOpusFrameLike(speech[0]);
  const slots = [
    ...speech.slice(0, 4).map((p, i) => slot(i, p)),
    slot(4, empty), // right after speech: libopus would conceal a fading tail here
    slot(5, null), // lost inside the silence
    slot(6, empty),
    ...speech.slice(4).map((p, i) => slot(7 + i, p)),
  ];
  const out = decodeSlots(slots);
  assert.deepEqual(out.map((f) => f.origin), [
    ...Array(4).fill("decoded"),
    "decoded",
    "concealed",
    "decoded",
    ...Array(4).fill("decoded"),
  ]);
  for (const i of [4, 5, 6]) assert.ok(out[i].samples.every((s) => s === 0), `frame ${i} silent`);
  // Speech on either side is what a decoder fed every frame makes of it (after the
  // silence the decoder goes on from where it left off; its first frame may differ a little).
  const reference = new OpusDecoder();
  speech.slice(0, 4).forEach((p, i) => assert.deepEqual(out[i].samples, reference.decode(p)));
  reference.close();
  const loud = (samples: Int16Array) => samples.some((s) => Math.abs(s) > 300);
  assert.ok(out.slice(8).every((f) => loud(f.samples)), "speech after the silence is heard");
});

Deno.test("a loss after speech is still concealed by libopus, and recovered from the next frame's FEC", () => {
  const speech = speechFrames(6);
  const out = decodeSlots([
    ...speech.slice(0, 3).map((p, i) => slot(i, p)),
    slot(3, null),
    { ...slot(4, null), nextPayload: speech[5] },
    slot(5, speech[5]),
  ]);
  assert.deepEqual(out.map((f) => f.origin), [
    "decoded",
    "decoded",
    "decoded",
    "concealed",
    "fec",
    "decoded",
  ]);
  assert.ok(out[3].samples.some((s) => s !== 0), "concealment continues the speech");
});
