/**
 * Native libopus (the system's `libopus.so.0`, Debian's `libopus0`) through Deno FFI. It is
 * the fastest build where it exists (bench:codec); where it does not, or outside Deno,
 * {@linkcode openNativeOpus} returns undefined and the WebAssembly build is used.
 *
 * `opus_encoder_ctl` is variadic; it is declared with one `int` argument, which is how the
 * System V x86-64 and Linux AArch64 calling conventions pass it, so the native build is
 * offered on Linux only.
 *
 * @module
 */
import {
  copySamples,
  MAX_FRAME_SAMPLES,
  MAX_PACKET_BYTES,
  type OpusDecoderState,
  type OpusEncoderState,
  type OpusLibrary,
} from "./opus_library.ts";

const SYMBOLS = {
  opus_decoder_create: { parameters: ["i32", "i32", "buffer"], result: "pointer" },
  opus_decoder_destroy: { parameters: ["pointer"], result: "void" },
  opus_decode: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  opus_encoder_create: { parameters: ["i32", "i32", "i32", "buffer"], result: "pointer" },
  opus_encoder_destroy: { parameters: ["pointer"], result: "void" },
  opus_encoder_ctl: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  opus_encode: { parameters: ["pointer", "buffer", "i32", "buffer", "i32"], result: "i32" },
} as const;

/** Names the shared library is found under. */
const LIBRARY_NAMES = ["libopus.so.0", "libopus.so"];

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

class NativeOpus implements OpusLibrary {
  readonly name = "native";
  readonly #lib: Symbols;
  /** Scratch buffers shared by every codec: JavaScript is single-threaded here. */
  readonly #pcm = new Int16Array(MAX_FRAME_SAMPLES);
  readonly #packet = new Uint8Array(MAX_PACKET_BYTES);
  readonly #error = new Int32Array(1);

  constructor(lib: Symbols) {
    this.#lib = lib;
  }

  createDecoder(sampleRate: number): OpusDecoderState | number {
    const lib = this.#lib;
    const state = lib.opus_decoder_create(sampleRate, 1, this.#error);
    if (!state || this.#error[0] < 0) return this.#error[0] || -7;
    const pcm = this.#pcm;
    return {
      decode: (data, frameSamples, fec) =>
        lib.opus_decode(state, data ?? null, data?.length ?? 0, pcm, frameSamples, fec),
      take: (samples, out) => copySamples(pcm.subarray(0, samples), out),
      free: () => lib.opus_decoder_destroy(state),
    };
  }

  createEncoder(sampleRate: number, application: number): OpusEncoderState | number {
    const lib = this.#lib;
    const state = lib.opus_encoder_create(sampleRate, 1, application, this.#error);
    if (!state || this.#error[0] < 0) return this.#error[0] || -7;
    const packet = this.#packet;
    return {
      ctl: (request, value) => lib.opus_encoder_ctl(state, request, value),
      encode: (pcm) => lib.opus_encode(state, pcm, pcm.length, packet, MAX_PACKET_BYTES),
      take: (bytes) => packet.slice(0, bytes),
      free: () => lib.opus_encoder_destroy(state),
    };
  }
}

let opened: NativeOpus | null | undefined;

/**
 * The system's libopus, or undefined where there is none (no Deno, not Linux, no library, or
 * FFI not permitted).
 */
export function openNativeOpus(): OpusLibrary | undefined {
  if (opened !== undefined) return opened ?? undefined;
  opened = null;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno?.dlopen || deno.build.os !== "linux") return undefined;
  for (const name of LIBRARY_NAMES) {
    try {
      opened = new NativeOpus(deno.dlopen(name, SYMBOLS).symbols);
      break;
    } catch {
      // Not under this name (or FFI not permitted): try the next, then fall back to wasm.
    }
  }
  return opened ?? undefined;
}
