/**
 * Opus encoder and decoder over one libopus build: native libopus through Deno FFI where
 * the system has it (fastest, bench:codec), else the WebAssembly build (SIMD where the
 * engine runs it), which always works, browsers included. `OPUS_LIBRARY=native|wasm-simd|wasm`
 * picks one by name.
 *
 * @module
 */
import { SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import {
  MAX_FRAME_SAMPLES,
  MAX_PACKET_BYTES,
  OPUS_APPLICATION_AUDIO,
  OPUS_APPLICATION_VOIP,
  type OpusDecoderState,
  type OpusEncoderState,
  type OpusLibrary,
} from "./opus_library.ts";
import { loadServerWasmOpus, OPUS_WASM_SIMD, WasmOpus } from "./opus_wasm.ts";
import { openNativeOpus } from "./opus_native.ts";

export type { OpusLibrary } from "./opus_library.ts";
export { opusWasmPath } from "./opus_wasm.ts";

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

const OPUS_SET_BITRATE = 4002;
const OPUS_SET_MAX_BANDWIDTH = 4004;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_BANDWIDTHS = {
  narrowband: 1101,
  mediumband: 1102,
  wideband: 1103,
  superwideband: 1104,
  fullband: 1105,
} as const;

/** Raised when a libopus build asked for by name cannot be loaded. */
export class OpusLibraryError extends Error {
  /** @param message what is missing */
  constructor(message: string) {
    super(message);
    this.name = "OpusLibraryError";
  }
}

let defaultLibrary: OpusLibrary | undefined;
/** Builds loaded by name: each is instantiated once (a WebAssembly build costs a compile). */
const loaded = new Map<string, OpusLibrary>();

/**
 * Provides libopus's WebAssembly bytes where they cannot be read from node_modules (a
 * browser fetches them: the edge serves them at `/client/opus.wasm`). Call before the first
 * codec is made.
 */
export function installOpusWasm(wasm: BufferSource): void {
  defaultLibrary ??= new WasmOpus(wasm, OPUS_WASM_SIMD ? "wasm-simd" : "wasm");
}

/**
 * A libopus build by name (`native`, `wasm-simd`, `wasm`); without a name, the one codecs use
 * by default: `OPUS_LIBRARY` if set, else native where it loads, else WebAssembly.
 */
export function opusLibrary(name?: string): OpusLibrary {
  if (name === undefined) return defaultLibrary ??= opusLibrary(configuredName());
  let library = loaded.get(name);
  if (!library) {
    library = loadLibrary(name);
    loaded.set(name, library);
  }
  return library;
}

function loadLibrary(name: string): OpusLibrary {
  if (!["auto", "native", "wasm-simd", "wasm"].includes(name)) {
    throw new OpusLibraryError(`unknown libopus build "${name}" (native, wasm-simd, wasm)`);
  }
  if (name === "native" || name === "auto") {
    const native = openNativeOpus();
    if (native) return native;
    if (name === "native") {
      throw new OpusLibraryError("native libopus (libopus.so.0) is not available");
    }
  }
  if (!loadServerWasmOpus) {
    throw new OpusLibraryError("libopus is not installed: call installOpusWasm()");
  }
  if (name === "wasm-simd" && !OPUS_WASM_SIMD) {
    throw new OpusLibraryError("this WebAssembly engine has no SIMD");
  }
  return loadServerWasmOpus(name === "auto" ? OPUS_WASM_SIMD : name === "wasm-simd");
}

function configuredName(): string {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  try {
    return deno?.env.get("OPUS_LIBRARY") || "auto";
  } catch {
    return "auto"; // No permission to read the environment.
  }
}

/** A mono Opus decoder producing 16-bit PCM, with loss concealment and FEC recovery. */
export class OpusDecoder {
  #state: OpusDecoderState | undefined;
  /** Output sample rate. */
  readonly sampleRate: number;

  /**
   * @param sampleRate output rate; Opus decodes natively to 8/12/16/24/48 kHz
   * @param library the libopus build (default {@linkcode opusLibrary}())
   */
  constructor(sampleRate: number = SAMPLE_RATE_HZ, library: OpusLibrary = opusLibrary()) {
    this.sampleRate = sampleRate;
    const state = library.createDecoder(sampleRate);
    if (typeof state === "number") throw new OpusCodecError("decoder init", state);
    this.#state = state;
  }

  /**
   * Decodes one packet; throws {@linkcode OpusCodecError} for an invalid one. The samples go
   * into `out` when given (a view of it is returned; it needs room for the packet's duration,
   * up to `MAX_FRAME_SAMPLES`), else into a new array. So do the two calls below.
   */
  decode(packet: Uint8Array, out?: Int16Array): Int16Array {
    return this.#run(packet, MAX_FRAME_SAMPLES, 0, "decode", out);
  }

  /**
   * Recovers a lost frame of `frameSamples` from the in-band FEC data of the packet that
   * followed it. Without FEC data in that packet, libopus falls back to concealment.
   */
  recoverFromNext(nextPacket: Uint8Array, frameSamples: number, out?: Int16Array): Int16Array {
    return this.#run(nextPacket, frameSamples, 1, "FEC decode", out);
  }

  /** Synthesizes `frameSamples` of concealment audio for a lost packet (PLC). */
  conceal(frameSamples: number, out?: Int16Array): Int16Array {
    return this.#run(undefined, frameSamples, 0, "concealment", out);
  }

  /** Frees the decoder's memory; the object must not be used afterwards. */
  close(): void {
    this.#state?.free();
    this.#state = undefined;
  }

  #run(
    packet: Uint8Array | undefined,
    frameSamples: number,
    fec: number,
    operation: string,
    out: Int16Array | undefined,
  ): Int16Array {
    if (!this.#state) throw new OpusCodecError(operation, -6);
    if (packet && packet.length > MAX_PACKET_BYTES) throw new OpusCodecError(operation, -4);
    const decoded = this.#state.decode(packet, frameSamples, fec);
    if (decoded < 0) throw new OpusCodecError(operation, decoded);
    return this.#state.take(decoded, out);
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
  /**
   * 0 (fastest) to 10. Default 3: the cheapest whose log-spectral distance and dMel difference
   * against the unencoded speech stay within 5 % of complexity 10's, at 0.27x its CPU
   * (bench:codec).
   */
  complexity?: number;
  /** `voip` (default: tuned for speech) or `audio`. */
  application?: "voip" | "audio";
  /** Widest band coded. Default wideband (8 kHz), all 16 kHz audio has; wider needs 48 kHz in. */
  maxBandwidth?: keyof typeof OPUS_BANDWIDTHS;
  /** The libopus build (default {@linkcode opusLibrary}()). */
  library?: OpusLibrary;
}

/** A mono Opus encoder from 16-bit PCM. */
export class OpusEncoder {
  #state: OpusEncoderState | undefined;

  /** @param options encoder settings */
  constructor(options: OpusEncoderOptions = {}) {
    const library = options.library ?? opusLibrary();
    const application = options.application === "audio"
      ? OPUS_APPLICATION_AUDIO
      : OPUS_APPLICATION_VOIP;
    const state = library.createEncoder(options.sampleRate ?? SAMPLE_RATE_HZ, application);
    if (typeof state === "number") throw new OpusCodecError("encoder init", state);
    const settings: [number, number][] = [
      [OPUS_SET_BITRATE, options.bitrate ?? 24_000],
      [OPUS_SET_INBAND_FEC, options.inbandFec === false ? 0 : 1],
      [OPUS_SET_PACKET_LOSS_PERC, options.expectedLossPercent ?? 5],
      [OPUS_SET_COMPLEXITY, options.complexity ?? 3],
      [OPUS_SET_MAX_BANDWIDTH, OPUS_BANDWIDTHS[options.maxBandwidth ?? "wideband"]],
    ];
    for (const [request, value] of settings) {
      const code = state.ctl(request, value);
      if (code < 0) {
        state.free();
        throw new OpusCodecError("encoder init", code);
      }
    }
    this.#state = state;
  }

  /**
   * Encodes 2.5 to 120 ms of samples into one packet (beyond 60 ms, or beyond 20 ms outside
   * SILK, libopus makes it of several frames).
   */
  encode(pcm: Int16Array): Uint8Array {
    if (!this.#state) throw new OpusCodecError("encode", -6);
    if (pcm.length > MAX_FRAME_SAMPLES) throw new OpusCodecError("encode", -1);
    const bytes = this.#state.encode(pcm);
    if (bytes < 0) throw new OpusCodecError("encode", bytes);
    return this.#state.take(bytes);
  }

  /** Frees the encoder's memory; the object must not be used afterwards. */
  close(): void {
    this.#state?.free();
    this.#state = undefined;
  }
}
