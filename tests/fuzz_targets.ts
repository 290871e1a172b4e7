/**
 * The parsers that read bytes and text from outside (clients, the worker link), as fuzz targets:
 * each takes arbitrary input and must either parse it or throw its own typed error. Anything
 * else (a TypeError, a RangeError, a hang) is a crash. Shared by `deno task fuzz`
 * (tests/fuzz_parsers.ts) and the regression test that replays every crash ever found
 * (tests/fuzz_regressions_test.ts, inputs in tests/fixtures/fuzz/).
 *
 * @module
 */
import {
  MalformedRtpPacketError,
  parseRtpPacket,
  serializeRtpPacket,
} from "../pipeline/rtp_packet.ts";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  MalformedLinkFrameError,
} from "../protocol/worker_link.ts";
import { encodeLinkBatch, linkFramesIn } from "../protocol/link_batch.ts";
import {
  MalformedVideoMessageError,
  parseVideoMessage,
  serializeVideoMessage,
} from "../protocol/video_message.ts";
import { ClientControl } from "../protocol/client_messages.ts";

/** One parser under fuzzing. */
export interface FuzzTarget {
  /** Name (and file prefix of its regressions). */
  name: string;
  /** Parses `input`; returns normally or throws. */
  parse(input: Uint8Array): void;
  /** Whether `error` is the parser's own, expected refusal. */
  expected(error: unknown): boolean;
  /** Valid inputs that mutations start from. */
  seeds: Uint8Array[];
}

/** A link frame of each layout: control (JSON), micro-turn, output. */
const LINK_FRAMES = [
  encodeLinkFrame({
    type: "open",
    sessionId: crypto.randomUUID(),
    index: 0,
    body: { startedAtMs: 1, context: "hi" },
  }),
  encodeLinkFrame({
    type: "micro_turn",
    turn: {
      sessionId: crypto.randomUUID(),
      index: 7,
      wallClockMs: 1,
      flags: 0,
      dmelFrames: 22,
      dmel: new Uint8Array(22 * 80).fill(3),
      frameOrigins: new Uint8Array(10),
      lateMediaMs: [1380],
      text: "héllo",
      patchCount: 1,
      patches: new Uint8Array(40 * 40 * 3),
    },
  }),
  encodeLinkFrame({
    type: "output",
    output: {
      sessionId: crypto.randomUUID(),
      index: 7,
      control: "speak",
      stepMs: 3,
      audio: new Int16Array(3200).fill(100),
      text: "ok",
    },
  }),
];

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Every target. */
export const FUZZ_TARGETS: FuzzTarget[] = [
  {
    name: "rtp",
    parse: (bytes) => {
      const packet = parseRtpPacket(bytes);
      // What parsed must serialize and parse to the same fields.
      const again = parseRtpPacket(serializeRtpPacket(packet));
      if (again.sequenceNumber !== packet.sequenceNumber || again.timestamp !== packet.timestamp) {
        throw new Error("RTP round trip changed the packet");
      }
    },
    expected: (error) => error instanceof MalformedRtpPacketError,
    seeds: [
      serializeRtpPacket({
        payloadType: 111,
        marker: true,
        sequenceNumber: 65535,
        timestamp: 4294967295,
        ssrc: 0x1234,
        payload: new Uint8Array([0xf8, 0xff, 0xfe]),
      }),
    ],
  },
  {
    name: "worker-link",
    // What the edge does with a link message: each frame it carries (itself, or a batch's).
    parse: (bytes) => linkFramesIn(bytes).forEach((frame) => decodeLinkFrame(frame)),
    expected: (error) => error instanceof MalformedLinkFrameError,
    seeds: [...LINK_FRAMES, encodeLinkBatch(LINK_FRAMES)],
  },
  {
    name: "video",
    parse: (bytes) => {
      const message = parseVideoMessage(bytes);
      parseVideoMessage(serializeVideoMessage(message));
    },
    expected: (error) => error instanceof MalformedVideoMessageError,
    seeds: [
      serializeVideoMessage({ timestampMs: 1234, jpeg: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]) }),
    ],
  },
  {
    name: "control",
    parse: (bytes) => {
      // What the edge does with a text message (edge/client_input.ts).
      ClientControl.safeParse(JSON.parse(decoder.decode(bytes)));
    },
    expected: (error) => error instanceof SyntaxError,
    seeds: [
      encoder.encode('{"type":"text","text":"hello","timestampMs":20}'),
      encoder.encode('{"type":"delegate","request":"look it up","urgent":true,"tool":"a__b"}'),
      encoder.encode(`{"type":"cancel_task","id":"${crypto.randomUUID()}"}`),
    ],
  },
];

/** Parses `input` with `target`; its own refusal is swallowed, anything else (a crash) thrown. */
export function parseOrRefuse(target: FuzzTarget, input: Uint8Array): void {
  try {
    target.parse(input);
  } catch (error) {
    if (!target.expected(error)) throw error;
  }
}
