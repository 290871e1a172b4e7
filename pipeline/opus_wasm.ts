/**
 * libopus compiled to WebAssembly, as `npm:@evan/opus` ships it (a plain and a SIMD build).
 * We call the C API ourselves because the package's wrapper hides the two calls a jitter
 * buffer needs: packet loss concealment (`opus_decode` with no data) and in-band FEC
 * recovery (`opus_decode` with `decode_fec = 1`). It runs everywhere, browsers included.
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

/** One instance of the WebAssembly build. */
export class WasmOpus implements OpusLibrary {
  readonly name: string;
  readonly #exports: OpusExports;
  /** Scratch buffers shared by every codec: JavaScript is single-threaded here. */
  readonly #packetPtr: number;
  readonly #pcmPtr: number;

  /**
   * @param wasm libopus compiled to WebAssembly (the npm package's `opus.wasm` or `simd.wasm`)
   * @param name which build it is
   */
  constructor(wasm: BufferSource, name: string) {
    this.name = name;
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
    this.#exports = instance.exports as unknown as OpusExports;
    this.#exports._initialize?.();
    this.#packetPtr = this.#exports.malloc(MAX_PACKET_BYTES);
    this.#pcmPtr = this.#exports.malloc(MAX_FRAME_SAMPLES * 2);
  }

  createDecoder(sampleRate: number): OpusDecoderState | number {
    const exports = this.#exports;
    const state = exports.malloc(exports.opus_decoder_get_size(1));
    const code = exports.opus_decoder_init(state, sampleRate, 1);
    if (code < 0) {
      exports.free(state);
      return code;
    }
    return {
      decode: (packet, frameSamples, fec) => {
        if (packet) this.#bytes(this.#packetPtr, packet.length).set(packet);
        const data = packet ? this.#packetPtr : 0;
        return exports.opus_decode(
          state,
          data,
          packet?.length ?? 0,
          this.#pcmPtr,
          frameSamples,
          fec,
        );
      },
      take: (samples, out) => copySamples(this.#samples(this.#pcmPtr, samples), out),
      free: () => exports.free(state),
    };
  }

  createEncoder(sampleRate: number, application: number): OpusEncoderState | number {
    const exports = this.#exports;
    const state = exports.malloc(exports.opus_encoder_get_size(1));
    const code = exports.opus_encoder_init(state, sampleRate, 1, application);
    if (code < 0) {
      exports.free(state);
      return code;
    }
    return {
      ctl: (request, value) => exports.opus_encoder_ctl_set(state, request, value),
      encode: (pcm) => {
        this.#samples(this.#pcmPtr, pcm.length).set(pcm);
        return exports.opus_encode(
          state,
          this.#pcmPtr,
          pcm.length,
          this.#packetPtr,
          MAX_PACKET_BYTES,
        );
      },
      take: (bytes) => this.#bytes(this.#packetPtr, bytes).slice(),
      free: () => exports.free(state),
    };
  }

  /** Views are made per call: memory growth detaches earlier ones. */
  #bytes(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.#exports.memory.buffer, ptr, length);
  }

  #samples(ptr: number, length: number): Int16Array {
    return new Int16Array(this.#exports.memory.buffer, ptr, length);
  }
}

/** The smallest module using a SIMD instruction: validates only where wasm SIMD exists. */
const SIMD_PROBE = Uint8Array.from(
  atob("AGFzbQEAAAABBAFgAAADAgEACgkBBwBBAP0PGgs="),
  (c) => c.charCodeAt(0),
);

/** Whether this WebAssembly engine runs SIMD (then the faster build is used). */
export const OPUS_WASM_SIMD = WebAssembly.validate(SIMD_PROBE);

/** Where the npm package keeps a build: the SIMD one where this engine runs SIMD. */
export function opusWasmPath(resolve: (id: string) => string, simd = OPUS_WASM_SIMD): string {
  return resolve(`@evan/opus/wasm/${simd ? "simd" : "opus"}.wasm`);
}

/**
 * Loads a build from node_modules on the server (Deno, Node); undefined in a browser, which
 * fetches the bytes instead (the edge serves them at `/client/opus.wasm`).
 */
export const loadServerWasmOpus: ((simd?: boolean) => WasmOpus) | undefined =
  await serverWasmLoader();

async function serverWasmLoader(): Promise<((simd?: boolean) => WasmOpus) | undefined> {
  const runtime = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (!runtime.Deno && !runtime.process?.versions?.node) return undefined;
  const { createRequire } = await import("node:module");
  const { readFileSync } = await import("node:fs");
  return (simd = OPUS_WASM_SIMD) => {
    const require = createRequire(import.meta.url);
    const bytes = new Uint8Array(readFileSync(opusWasmPath(require.resolve, simd)));
    return new WasmOpus(bytes, simd ? "wasm-simd" : "wasm");
  };
}
