/**
 * ONNX Runtime's C API, reached through Deno FFI on the `libonnxruntime` that npm
 * `onnxruntime-node` ships (the same build: CPU and the bundled WebGPU provider; the CUDA
 * provider where an operator installed its libraries beside it). onnxruntime-node's
 * JavaScript API always copies outputs back to the host; the C API's I/O binding lets a
 * tensor (the key/value cache) live in device memory across runs.
 *
 * The library exports one symbol, `OrtGetApiBase`; every other function is a pointer in the
 * `OrtApi` table, called by its index. The table only ever grows, so the indices below
 * (from `onnxruntime_c_api.h`) stay valid for every library at or above {@linkcode ORT_API_VERSION}.
 *
 * @module
 */

/** The C API version asked of the library (ONNX Runtime 1.23 and later serve it). */
export const ORT_API_VERSION = 23;

/** Raised when the ONNX Runtime library cannot be opened or does not serve the API version. */
export class OrtLibraryError extends Error {
  /** @param message what failed, naming the library path */
  constructor(message: string) {
    super(message);
    this.name = "OrtLibraryError";
  }
}

/** A failed C API call: the function and ONNX Runtime's own message. */
export class OrtCallError extends Error {
  /** The C API function that failed. */
  readonly call: string;
  /** ONNX Runtime's error code (`OrtErrorCode`). */
  readonly code: number;
  /** ONNX Runtime's message. */
  readonly detail: string;
  /**
   * @param call the C API function
   * @param code ONNX Runtime's error code
   * @param detail ONNX Runtime's message
   */
  constructor(call: string, code: number, detail: string) {
    super(`${call}: ${detail}`);
    this.name = "OrtCallError";
    this.call = call;
    this.code = code;
    this.detail = detail;
  }
}

/** `ONNXTensorElementDataType` values the worker uses. */
export const ElementType = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  float16: 10,
} as const;

/** An element type name of {@linkcode ElementType}. */
export type ElementTypeName = keyof typeof ElementType;

/** Bytes per element of each {@linkcode ElementType}. */
export const ELEMENT_BYTES: Record<ElementTypeName, number> = {
  float32: 4,
  uint8: 1,
  int32: 4,
  int64: 8,
  float16: 2,
};

/** Bytes a tensor of `type` and shape `dims` takes. */
export function tensorBytes(type: ElementTypeName, dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[type];
}

const P = "pointer" as const;
const B = "buffer" as const;

/** Signatures of the table entries used, by index. */
const FUNCTIONS = {
  GetErrorCode: [1, [P], "i32"],
  GetErrorMessage: [2, [P], P],
  CreateEnv: [3, ["i32", B, B], P],
  CreateSession: [7, [P, B, P, B], P],
  CreateSessionFromArray: [8, [P, B, "usize", P, B], P],
  CreateSessionOptions: [10, [B], P],
  EnableProfiling: [14, [P, B], P],
  SetSessionGraphOptimizationLevel: [23, [P, "i32"], P],
  SetIntraOpNumThreads: [24, [P, "i32"], P],
  CreateTensorAsOrtValue: [48, [P, B, "usize", "i32", B], P],
  CreateTensorWithDataAsOrtValue: [49, [P, P, "usize", B, "usize", "i32", B], P],
  GetTensorMutableData: [51, [P, B], P],
  CreateMemoryInfo: [68, [B, "i32", "i32", "i32", B], P],
  CreateCpuMemoryInfo: [69, ["i32", "i32", B], P],
  ReleaseEnv: [92, [P], "void"],
  ReleaseStatus: [93, [P], "void"],
  ReleaseMemoryInfo: [94, [P], "void"],
  ReleaseSession: [95, [P], "void"],
  ReleaseValue: [96, [P], "void"],
  ReleaseSessionOptions: [100, [P], "void"],
  AddFreeDimensionOverrideByName: [124, [P, B, "i64"], P],
  CreateAllocator: [131, [P, P, B], P],
  ReleaseAllocator: [132, [P], "void"],
  RunWithBinding: [133, [P, P, P], P],
  CreateIoBinding: [134, [P, B], P],
  ReleaseIoBinding: [135, [P], "void"],
  BindInput: [136, [P, B, P], P],
  BindOutput: [137, [P, B, P], P],
  ClearBoundInputs: [141, [P], "void"],
  ClearBoundOutputs: [142, [P], "void"],
  SynchronizeBoundOutputs: [203, [P], P],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, [P, P], P],
  CreateCUDAProviderOptions: [205, [B], P],
  UpdateCUDAProviderOptions: [206, [P, B, B, "usize"], P],
  ReleaseCUDAProviderOptions: [208, [P], "void"],
  SessionOptionsAppendExecutionProvider: [216, [P, B, B, B, "usize"], P],
} as const satisfies Record<string, readonly [number, Deno.NativeType[], Deno.NativeResultType]>;

type Functions = typeof FUNCTIONS;

const RUN_ASYNC = { parameters: [P, P, P], result: P, nonblocking: true } as const;
const BIND_ASYNC = { parameters: [P, B, P], result: P, nonblocking: true } as const;
type Callable<K extends keyof Functions> = Deno.UnsafeFnPointer<{
  parameters: Functions[K][1];
  result: Functions[K][2];
}>;

/** The functions of the C API the worker calls, bound to one loaded library. */
export type OrtFunctions = { [K in keyof Functions]: Callable<K> };

/** A loaded ONNX Runtime library: its version, its function table and helpers. */
export interface OrtApi {
  /** Path the library was opened from. */
  readonly path: string;
  /** ONNX Runtime's version string, e.g. `1.30.0`. */
  readonly version: string;
  /** The table's functions. */
  readonly fn: OrtFunctions;
  /** `RunWithBinding` on a worker thread: the event loop goes on while the model runs. */
  readonly runWithBindingAsync: Deno.UnsafeFnPointer<typeof RUN_ASYNC>;
  /**
   * `BindInput` on a worker thread: binding a host tensor to a device provider copies it to the
   * device there and then (about 1.5 ms a tensor on WebGPU, whatever its size).
   */
  readonly bindInputAsync: Deno.UnsafeFnPointer<typeof BIND_ASYNC>;
  /** Throws {@linkcode OrtCallError} for a non-null status (and releases it). */
  check(status: Deno.PointerValue, call: string): void;
}

const loaded = new Map<string, OrtApi>();

/**
 * The default library: the one npm `onnxruntime-node` installs into `node_modules` for this
 * platform.
 */
export function defaultOrtLibraryPath(): string {
  const { os, arch } = Deno.build;
  const platform = os === "darwin" ? "darwin" : os === "windows" ? "win32" : "linux";
  const cpu = arch === "aarch64" ? "arm64" : "x64";
  const file = os === "darwin"
    ? "libonnxruntime.1.dylib"
    : os === "windows"
    ? "onnxruntime.dll"
    : "libonnxruntime.so.1";
  return new URL(
    `../../node_modules/onnxruntime-node/bin/napi-v6/${platform}/${cpu}/${file}`,
    import.meta.url,
  ).pathname;
}

/**
 * Opens the library at `path` (default {@linkcode defaultOrtLibraryPath}) once per process.
 * Throws {@linkcode OrtLibraryError} when it does not load or lacks the API version.
 */
export function loadOrtApi(path = defaultOrtLibraryPath()): OrtApi {
  const cached = loaded.get(path);
  if (cached) return cached;
  let library;
  try {
    library = Deno.dlopen(path, { OrtGetApiBase: { parameters: [], result: P } });
  } catch (error) {
    throw new OrtLibraryError(
      `cannot load the ONNX Runtime library ${path}: ${(error as Error).message}`,
    );
  }
  const base = new Deno.UnsafePointerView(library.symbols.OrtGetApiBase()!);
  const getApi = new Deno.UnsafeFnPointer(base.getPointer(0)!, {
    parameters: ["u32"],
    result: P,
  });
  const getVersion = new Deno.UnsafeFnPointer(base.getPointer(8)!, { parameters: [], result: P });
  const version = Deno.UnsafePointerView.getCString(getVersion.call()!);
  const table = getApi.call(ORT_API_VERSION);
  if (table === null) {
    throw new OrtLibraryError(
      `ONNX Runtime ${version} at ${path} does not serve C API version ${ORT_API_VERSION}`,
    );
  }
  const view = new Deno.UnsafePointerView(table);
  const fn = Object.fromEntries(
    Object.entries(FUNCTIONS).map(([name, [index, parameters, result]]) => [
      name,
      new Deno.UnsafeFnPointer(view.getPointer(index * 8)!, { parameters, result }),
    ]),
  ) as unknown as OrtFunctions;
  const runWithBindingAsync = new Deno.UnsafeFnPointer(
    view.getPointer(FUNCTIONS.RunWithBinding[0] * 8)!,
    RUN_ASYNC,
  );
  const bindInputAsync = new Deno.UnsafeFnPointer(
    view.getPointer(FUNCTIONS.BindInput[0] * 8)!,
    BIND_ASYNC,
  );
  const api: OrtApi = {
    path,
    version,
    fn,
    runWithBindingAsync,
    bindInputAsync,
    check(status, call) {
      if (status === null) return;
      const code = fn.GetErrorCode.call(status);
      const detail = Deno.UnsafePointerView.getCString(fn.GetErrorMessage.call(status)!);
      fn.ReleaseStatus.call(status);
      throw new OrtCallError(call, code, detail);
    },
  };
  loaded.set(path, api);
  return api;
}

/** A NUL-terminated UTF-8 copy of `text`, as C functions take strings. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** The address of a host buffer's first byte. */
export function bufferPointer(data: ArrayBufferView): Deno.PointerValue {
  return Deno.UnsafePointer.of(data as Uint8Array<ArrayBuffer>);
}

/** A one-pointer out-parameter and its value after the call. */
export class OutPointer {
  /** The cell C writes into. */
  readonly cell = new BigUint64Array(1);
  /** The pointer written. */
  get value(): Deno.PointerValue {
    return Deno.UnsafePointer.create(this.cell[0]);
  }
}
