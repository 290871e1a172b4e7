import assert from "node:assert/strict";
import { RealtimeBridge } from "./realtime_bridge.ts";
import type { EdgeSession } from "../edge_session.ts";
import { parseRtpPacket, serializeRtpPacket } from "../../pipeline/rtp_packet.ts";
import { L16_PAYLOAD_TYPE, SAMPLES_PER_FRAME } from "../../protocol/media_format.ts";
import { encodeFormat } from "./audio_formats.ts";

type Event = { type: string; [key: string]: unknown };

/** A bridge over a recording socket and a recording session. */
function bridge() {
  const events: Event[] = [];
  const packets: Uint8Array[] = [];
  const texts: string[] = [];
  const bridge = new RealtimeBridge({
    socket: { send: (data) => events.push(JSON.parse(data)), close: () => {}, bufferedAmount: 0 },
    sessionId: "00000000-0000-4000-8000-000000000001",
    model: "reference",
    maxMessageBytes: 1 << 20,
    clock: { now: () => 0 },
  });
  bridge.attach({
    receiveBinary: (bytes: Uint8Array) => packets.push(bytes),
    receiveText: (text: string) => texts.push(text),
  } as unknown as EdgeSession);
  const send = (event: Record<string, unknown>) => bridge.receive(JSON.stringify(event));
  /** The session's output for one micro-turn: its message, then its ten audio packets. */
  const micro = (control: "speak" | "silent", text = "") => {
    bridge.send(JSON.stringify({ type: "output", index: 0, control, text, audioFrames: 10 }));
    for (let i = 0; i < 10; i++) {
      const pcm = new Int16Array(SAMPLES_PER_FRAME).fill(1000);
      bridge.send(serializeRtpPacket({
        payloadType: L16_PAYLOAD_TYPE,
        marker: false,
        sequenceNumber: i,
        timestamp: i * 960,
        ssrc: 1,
        payload: new Uint8Array(pcm.buffer),
      }));
    }
  };
  const types = (from = 0) => events.slice(from).map((e) => e.type);
  return { bridge, events, packets, texts, send, micro, types };
}

Deno.test("realtime bridge: a speaking run is one response, its audio and text the deltas; silence completes it", () => {
  const { events, micro, types } = bridge();
  assert.deepEqual(types(), ["session.created"]);
  micro("silent", "x"); // not speaking: nothing
  assert.deepEqual(types(1), []);
  micro("speak", "hi");
  micro("speak", "!");
  micro("silent");
  assert.deepEqual(types(1), [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    ...Array(10).fill("response.output_audio.delta"),
    "response.output_audio_transcript.delta",
    ...Array(10).fill("response.output_audio.delta"),
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "rate_limits.updated",
  ]);
  const done = events.find((e) => e.type === "response.done")!.response as Record<string, unknown>;
  assert.equal(done.status, "completed");
  assert.equal(
    (events.find((e) => e.type === "response.output_audio_transcript.done")!).transcript,
    "hi!",
  );
  // 20 ms of 16 kHz in, 20 ms of 24 kHz pcm16 out (less what the resampler holds back).
  const bytes = events.filter((e) => e.type === "response.output_audio.delta")
    .reduce((n, e) => n + atob(e.delta as string).length, 0);
  assert.ok(bytes > 18_000 && bytes <= 19_200, `${bytes}`);
});

Deno.test("realtime bridge: response.cancel ends the response cancelled and the rest of that speaking run is not sent; nothing to cancel is an error", () => {
  const { events, micro, send, types } = bridge();
  send({ type: "response.cancel", event_id: "e1" });
  assert.equal((events.at(-1)!.error as { code: string }).code, "response_cancel_not_active");
  micro("speak");
  const mark = events.length;
  send({ type: "response.cancel" });
  const done = events.find((e) => e.type === "response.done")!.response as Record<string, unknown>;
  assert.equal(done.status, "cancelled");
  assert.deepEqual(done.status_details, { type: "cancelled", reason: "client_cancelled" });
  const afterCancel = events.length;
  micro("speak"); // the same speaking run goes on: not sent
  assert.deepEqual(types(afterCancel), []);
  micro("silent");
  micro("speak"); // a new run: a new response
  assert.equal(types(afterCancel)[0], "response.created");
  assert.ok(types(mark).includes("response.output_item.done"));
});

Deno.test("realtime bridge: the user starting to speak while a response plays cancels it (server VAD), and the audio reaches the session as 20 ms L16 packets", () => {
  const { events, micro, send, packets } = bridge();
  micro("speak");
  // 300 ms of loud 24 kHz audio.
  const loud = Int16Array.from({ length: 7200 }, (_, i) => Math.round(8000 * Math.sin(i / 3)));
  send({
    type: "input_audio_buffer.append",
    audio: btoa(String.fromCharCode(...encodeFormat("audio/pcm", loud))),
  });
  const started = events.findIndex((e) => e.type === "input_audio_buffer.speech_started");
  const done = events.findIndex((e) => e.type === "response.done");
  assert.ok(done >= 0 && started > done, "cancelled before speech_started is told");
  assert.deepEqual((events[done].response as { status_details: unknown }).status_details, {
    type: "cancelled",
    reason: "turn_detected",
  });
  // 300 ms at 16 kHz is 15 frames, less the resampler's few held-back samples.
  assert.equal(packets.length, 14);
  const first = parseRtpPacket(packets[0]);
  assert.equal(first.payloadType, L16_PAYLOAD_TYPE);
  assert.equal(first.payload.length, SAMPLES_PER_FRAME * 2);
  assert.equal(parseRtpPacket(packets[1]).timestamp - first.timestamp, 960);
});
