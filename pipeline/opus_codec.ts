/**
 * libopus, driven directly through the WebAssembly build that `npm:@evan/opus` ships. We call
 * the C API ourselves because the package's wrapper hides the two calls a jitter buffer
 * needs: packet loss concealment (`opus_decode` with no data) and in-band FEC recovery
 * (`opus_decode` with `decode_fec = 1`).
 *
 * @module
 */
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";

/** Raised when libopus returns an error code. */
export class OpusCodecError extends Error {
  /** libopus error code (negative). */
  readonly code: number;
  /**
   * @param operation what was being done
   * @param code the libopus return code
   */
  constructor(operation: string, code: number) {
    super(`opus ${operation} failed: ${OPUS_ERRORS[-code] ?? `error ${code}`}`);
    this.name = "OpusCodecError";
    this.code = code;
  }
}

const OPUS_ERRORS = [
  "ok",
  "bad argument",
  "buffer too small",
  "internal error",
  "invalid packet",
  "unimplemented",
  "invalid state",
  "allocation failed",
];

const OPUS_APPLICATION_VOIP = 2048;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
/** Largest Opus packet (RFC 6716 §3.4: 1275 bytes a frame, up to 3 frames of 20 ms here). */
const MAX_PACKET_BYTES = 4000;
/** Largest decode: 120 ms at 48 kHz, the longest an Opus packet can carry. */
const MAX_FRAME_SAMPLES = 5760;

interface OpusExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  opus_decoder_get_size(channels: number): number;
  opus_decoder_init(st: number, rate: number, channels: number): number;
  opus_decode(
    st: number,
    data: number,
    len: number,
    pcm: number,
    frameSize: number,
    decodeFec: number,
  ): number;
  opus_encoder_get_size(channels: number): number;
  opus_encoder_init(st: number, rate: number, channels: number, application: number): number;
  opus_encoder_ctl_set(st: number, request: number, value: number): number;
  opus_encode(st: number, pcm: number, frameSize: number, data: number, maxBytes: number): number;
  _initialize?: () => void;
}

class OpusWasm {
  readonly exports: OpusExports;
  /** Scratch buffers shared by every codec: JavaScript is single-threaded here. */
  readonly packetPtr: number;
  readonly pcmPtr: number;

  /** @param wasm libopus compiled to WebAssembly (the npm package's `opus.wasm` or `simd.wasm`) */
  constructor(wasm: BufferSource) {
    const module = new WebAssembly.Module(wasm);
    const instance = new WebAssembly.Instance(module, {
      wasi_snapshot_preview1: {
        fd_seek: () => 0,
        fd_write: () => 0,
        fd_close: () => 0,
        proc_exit: (code: number) => {
          throw new Error(`libopus called exit(${code})`);
        },
      },
      env: { emscripten_notify_memory_growth: () => {} },
    });
    this.exports = instance.exports as unknown as OpusExports;
    this.exports._initialize?.();
    this.packetPtr = this.exports.malloc(MAX_PACKET_BYTES);
    this.pcmPtr = this.exports.malloc(MAX_FRAME_SAMPLES * 2);
  }

  /** Views are made per call: memory growth detaches earlier ones. */
  bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, length);
  }

  samples(ptr: number, length: number): Int16Array {
    return new Int16Array(this.exports.memory.buffer, ptr, length);
  }
}

/** The smallest module using a SIMD instruction: validates only where wasm SIMD exists. */
const SIMD_PROBE = Uint8Array.from(
  atob("AGFzbQEAAAABBAFgAAADAgEACgkBBwBBAP0PGgs="),
  (c) => c.charCodeAt(0),
);

/** Whether this WebAssembly engine runs SIMD (then the faster build is used). */
export const OPUS_WASM_SIMD = WebAssembly.validate(SIMD_PROBE);

let shared: OpusWasm | undefined;

/**
 * Provides libopus's WebAssembly bytes where they cannot be read from node_modules (a
 * browser fetches them: the edge serves them at `/client/opus.wasm`). Call before the first
 * codec is made.
 */
export function installOpusWasm(wasm: BufferSource): void {
  shared ??= new OpusWasm(wasm);
}

function opusWasm(): OpusWasm {
  if (!shared) {
    if (!readServerWasm) throw new Error("libopus is not installed: call installOpusWasm()");
    shared = new OpusWasm(readServerWasm());
  }
  return shared;
}

/** On the server (Deno, Node), libopus comes from the npm package in node_modules. */
const readServerWasm = await serverWasmReader();

async function serverWasmReader(): Promise<(() => Uint8Array<ArrayBuffer>) | undefined> {
  const runtime = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (!runtime.Deno && !runtime.process?.versions?.node) return undefined;
  const { createRequire } = await import("node:module");
  const { readFileSync } = await import("node:fs");
  return () => {
    const require = createRequire(import.meta.url);
    return new Uint8Array(readFileSync(opusWasmPath(require.resolve)));
  };
}

/** Where the npm package keeps the build this engine should run. */
export function opusWasmPath(resolve: (id: string) => string): string {
  return resolve(`@evan/opus/wasm/${OPUS_WASM_SIMD ? "simd" : "opus"}.wasm`);
}

/** A mono Opus decoder producing 16-bit PCM, with loss concealment and FEC recovery. */
export class OpusDecoder {
  #wasm = opusWasm();
  #state: number;
  /** Output sample rate. */
  readonly sampleRate: number;

  /** @param sampleRate output rate; Opus decodes natively to 8/12/16/24/48 kHz */
  constructor(sampleRate: number = SAMPLE_RATE_HZ) {
    const { exports } = this.#wasm;
    this.sampleRate = sampleRate;
    this.#state = exports.malloc(exports.opus_decoder_get_size(1));
    const code = exports.opus_decoder_init(this.#state, sampleRate, 1);
    if (code < 0) {
      exports.free(this.#state);
      throw new OpusCodecError("decoder init", code);
    }
  }

  /** Decodes one packet; throws {@linkcode OpusCodecError} for an invalid one. */
  decode(packet: Uint8Array): Int16Array {
    return this.#run(packet, MAX_FRAME_SAMPLES, 0, "decode");
  }

  /**
   * Recovers a lost frame of `frameSamples` from the in-band FEC data of the packet that
   * followed it. Without FEC data in that packet, libopus falls back to concealment.
   */
  recoverFromNext(nextPacket: Uint8Array, frameSamples: number): Int16Array {
    return this.#run(nextPacket, frameSamples, 1, "FEC decode");
  }

  /** Synthesizes `frameSamples` of concealment audio for a lost packet (PLC). */
  conceal(frameSamples: number): Int16Array {
    return this.#run(undefined, frameSamples, 0, "concealment");
  }

  /** Frees the decoder's memory; the object must not be used afterwards. */
  close(): void {
    if (this.#state) this.#wasm.exports.free(this.#state);
    this.#state = 0;
  }

  #run(
    packet: Uint8Array | undefined,
    frameSamples: number,
    fec: number,
    operation: string,
  ): Int16Array {
    const wasm = this.#wasm;
    if (!this.#state) throw new OpusCodecError(operation, -6);
    if (packet && packet.length > MAX_PACKET_BYTES) throw new OpusCodecError(operation, -4);
    if (packet) wasm.bytes(wasm.packetPtr, packet.length).set(packet);
    const decoded = wasm.exports.opus_decode(
      this.#state,
      packet ? wasm.packetPtr : 0,
      packet?.length ?? 0,
      wasm.pcmPtr,
      frameSamples,
      fec,
    );
    if (decoded < 0) throw new OpusCodecError(operation, decoded);
    return wasm.samples(wasm.pcmPtr, decoded).slice();
  }
}

/** Options for {@linkcode OpusEncoder}. */
export interface OpusEncoderOptions {
  /** Input sample rate. Default 16 kHz. */
  sampleRate?: number;
  /** Target bitrate in bit/s. Default 24 000, ample for wideband speech. */
  bitrate?: number;
  /** Embed in-band FEC for the previous frame. Default true. */
  inbandFec?: boolean;
  /** Expected loss in percent, which sizes the FEC. Default 5. */
  expectedLossPercent?: number;
  /** 0 (fastest) to 10. Default 5: a mid setting that keeps hundreds of sessions a core. */
  complexity?: number;
}

/** A mono VoIP-mode Opus encoder from 16-bit PCM. */
export class OpusEncoder {
  #wasm = opusWasm();
  #state: number;

  /** @param options encoder settings */
  constructor(options: OpusEncoderOptions = {}) {
    const { exports } = this.#wasm;
    this.#state = exports.malloc(exports.opus_encoder_get_size(1));
    const settings: [number, number][] = [
      [OPUS_SET_BITRATE, options.bitrate ?? 24_000],
      [OPUS_SET_INBAND_FEC, options.inbandFec === false ? 0 : 1],
      [OPUS_SET_PACKET_LOSS_PERC, options.expectedLossPercent ?? 5],
      [OPUS_SET_COMPLEXITY, options.complexity ?? 5],
    ];
    let code = exports.opus_encoder_init(
      this.#state,
      options.sampleRate ?? SAMPLE_RATE_HZ,
      1,
      OPUS_APPLICATION_VOIP,
    );
    for (const [request, value] of settings) {
      if (code >= 0) code = exports.opus_encoder_ctl_set(this.#state, request, value);
    }
    if (code < 0) {
      exports.free(this.#state);
      throw new OpusCodecError("encoder init", code);
    }
  }

  /** Encodes one frame (2.5 to 60 ms of samples) into one packet. */
  encode(pcm: Int16Array): Uint8Array {
    const wasm = this.#wasm;
    if (!this.#state) throw new OpusCodecError("encode", -6);
    if (pcm.length > MAX_FRAME_SAMPLES) throw new OpusCodecError("encode", -1);
    wasm.samples(wasm.pcmPtr, pcm.length).set(pcm);
    const bytes = wasm.exports.opus_encode(
      this.#state,
      wasm.pcmPtr,
      pcm.length,
      wasm.packetPtr,
      MAX_PACKET_BYTES,
    );
    if (bytes < 0) throw new OpusCodecError("encode", bytes);
    return wasm.bytes(wasm.packetPtr, bytes).slice();
  }

  /** Frees the encoder's memory; the object must not be used afterwards. */
  close(): void {
    if (this.#state) this.#wasm.exports.free(this.#state);
    this.#state = 0;
  }
}
