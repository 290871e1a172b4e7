/**
 * An ONNX Runtime session through the C API ({@linkcode OrtApi}), with what the worker needs
 * to keep state on the device: tensors allocated in the execution provider's memory, tensors
 * over host buffers, and an I/O binding whose run happens on a worker thread.
 *
 * On the CPU provider "device" tensors are host buffers this process allocates (zeroed, so a
 * fresh cache holds no stale values); on WebGPU and CUDA they are allocated by the session's
 * own device allocator and never cross the bus unless bound to a host tensor.
 *
 * @module
 */
export {
  type ExecutionProvider,
  ExecutionProviderUnavailableError,
  GRAPH_CAPTURE_OPTION,
} from "./execution_provider.ts";
import {
  bufferPointer,
  cString,
  ElementType,
  type ElementTypeName,
  loadOrtApi,
  type OrtApi,
  OrtCallError,
  OutPointer,
  tensorBytes,
} from "./ort_api.ts";
import { zeroCudaMemory } from "./cuda_memory.ts";
import {
  appendProvider,
  type ExecutionProvider,
  ExecutionProviderUnavailableError,
  PROVIDER_MEMORY_NAMES,
} from "./execution_provider.ts";
import { OrtRunThread } from "./run_thread.ts";

/** Raised when the device cannot hold a tensor; says how much was asked for. */
export class DeviceOutOfMemoryError extends Error {
  /** Bytes the failed allocation asked for. */
  readonly bytes: number;
  /**
   * @param bytes bytes asked for
   * @param detail ONNX Runtime's message
   */
  constructor(bytes: number, detail: string) {
    super(`the device could not allocate ${(bytes / 2 ** 20).toFixed(0)} MiB: ${detail}`);
    this.name = "DeviceOutOfMemoryError";
    this.bytes = bytes;
  }
}

/** Options for {@linkcode OrtModelSession.create}. */
export interface OrtSessionOptions {
  /** Execution provider. Default `cpu`. */
  executionProvider?: ExecutionProvider;
  /** Provider options passed as keys and values (e.g. WebGPU's `enableGraphCapture`). */
  providerOptions?: Record<string, string>;
  /** Threads of the CPU provider's intra-op pool (0: ONNX Runtime's default). */
  threads?: number;
  /** The ONNX Runtime library; default the one npm onnxruntime-node ships. */
  libraryPath?: string;
  /** Write ONNX Runtime's profile (per-kernel times) to `<prefix>_<date>.json` on release. */
  profilePrefix?: string;
  /** What ONNX Runtime logs to stderr: 0 verbose, 1 info, 2 warning, 3 error (default), 4 fatal. */
  logSeverity?: 0 | 1 | 2 | 3 | 4;
  /**
   * Symbolic dimensions fixed to a size for this session (its shapes become static, so shape
   * computations fold away; a run with another size fails).
   */
  fixedDimensions?: Record<string, number>;
  /**
   * Run on one dedicated thread (gpu-worker/ort/run_thread.ts) rather than on any thread of
   * Deno's pool. Default: on CUDA, whose captured graphs belong to the thread that ran them.
   */
  runThread?: boolean;
}

/** A tensor (an `OrtValue`), and the host buffer it reads, which it keeps alive. */
export class OrtTensor {
  readonly #api: OrtApi;
  #pointer: Deno.PointerValue;
  /** Element type. */
  readonly type: ElementTypeName;
  /** Shape. */
  readonly dims: readonly number[];
  /** The host buffer behind the tensor, when it lives in host memory. */
  readonly host: ArrayBufferView | undefined;

  /** Wraps a created `OrtValue`; use {@linkcode OrtModelSession}'s factories. */
  constructor(
    api: OrtApi,
    pointer: Deno.PointerValue,
    type: ElementTypeName,
    dims: readonly number[],
    host?: ArrayBufferView,
  ) {
    this.#api = api;
    this.#pointer = pointer;
    this.type = type;
    this.dims = dims;
    this.host = host;
  }

  /** The `OrtValue*`. */
  get pointer(): Deno.PointerValue {
    if (this.#pointer === null) throw new Error("tensor used after release");
    return this.#pointer;
  }

  /** Bytes the tensor's elements take. */
  get bytes(): number {
    return tensorBytes(this.type, this.dims);
  }

  /** Releases the `OrtValue` (device memory goes back to its allocator). Idempotent. */
  release(): void {
    if (this.#pointer === null) return;
    this.#api.fn.ReleaseValue.call(this.#pointer);
    this.#pointer = null;
  }
}

/** An I/O binding: names bound to tensors, run as one call on a worker thread. */
export class OrtIoBinding {
  readonly #api: OrtApi;
  readonly #session: Deno.PointerValue;
  #pointer: Deno.PointerValue;
  readonly #names = new Map<string, Uint8Array<ArrayBuffer>>();
  readonly #runThread: OrtRunThread | undefined;

  /** Use {@linkcode OrtModelSession.binding}. */
  constructor(api: OrtApi, session: Deno.PointerValue, runThread?: OrtRunThread) {
    this.#api = api;
    this.#session = session;
    this.#runThread = runThread;
    const out = new OutPointer();
    api.check(api.fn.CreateIoBinding.call(session, out.cell), "CreateIoBinding");
    this.#pointer = out.value;
  }

  /** Binds an input name to a tensor (replacing an earlier binding of the name). */
  input(name: string, tensor: OrtTensor): void {
    this.#api.check(
      this.#api.fn.BindInput.call(this.#pointer, this.#name(name), tensor.pointer),
      `BindInput ${name}`,
    );
  }

  /**
   * Binds an input name to a tensor off the event loop: for host tensors bound to a device
   * provider, which copies them to the device as they are bound.
   */
  async inputAsync(name: string, tensor: OrtTensor): Promise<void> {
    const status = await this.#api.bindInputAsync.call(
      this.#pointer,
      this.#name(name),
      tensor.pointer,
    );
    this.#api.check(status, `BindInput ${name}`);
  }

  /** Binds an output name to a preallocated tensor that the run writes into. */
  output(name: string, tensor: OrtTensor): void {
    this.#api.check(
      this.#api.fn.BindOutput.call(this.#pointer, this.#name(name), tensor.pointer),
      `BindOutput ${name}`,
    );
  }

  /** Forgets every binding. */
  clear(): void {
    this.#api.fn.ClearBoundInputs.call(this.#pointer);
    this.#api.fn.ClearBoundOutputs.call(this.#pointer);
  }

  /**
   * Runs the session on what is bound, off the event loop (CUDA: on its one run thread,
   * gpu-worker/ort/run_thread.ts), and waits until every output is written (host-bound outputs
   * copied back).
   */
  async run(): Promise<void> {
    if (this.#runThread) return await this.#runThread.run(this.#session, this.#pointer);
    const status = await this.#api.runWithBindingAsync.call(this.#session, null, this.#pointer);
    this.#api.check(status, "RunWithBinding");
    this.#api.check(
      this.#api.fn.SynchronizeBoundOutputs.call(this.#pointer),
      "SynchronizeBoundOutputs",
    );
  }

  /** Releases the binding. Idempotent. */
  release(): void {
    if (this.#pointer === null) return;
    this.#api.fn.ReleaseIoBinding.call(this.#pointer);
    this.#pointer = null;
  }

  #name(name: string): Uint8Array<ArrayBuffer> {
    let encoded = this.#names.get(name);
    if (!encoded) this.#names.set(name, encoded = cString(name));
    return encoded;
  }
}

/** One model loaded on one execution provider. */
export class OrtModelSession {
  /** The C API. */
  readonly api: OrtApi;
  /** The provider the session runs on. */
  readonly executionProvider: ExecutionProvider;
  #env: Deno.PointerValue;
  #session: Deno.PointerValue;
  #cpuMemory: Deno.PointerValue;
  #deviceMemory: Deno.PointerValue;
  #deviceAllocator: Deno.PointerValue;
  /** The CUDA device (its provider's `device_id`). */
  readonly #cudaDevice: number;
  /** Where CUDA runs happen (one thread, which keeps the captured graphs). */
  readonly #runThread: OrtRunThread | undefined;

  private constructor(
    api: OrtApi,
    executionProvider: ExecutionProvider,
    handles: {
      env: Deno.PointerValue;
      session: Deno.PointerValue;
      cpuMemory: Deno.PointerValue;
      deviceMemory: Deno.PointerValue;
      deviceAllocator: Deno.PointerValue;
      cudaDevice: number;
      runThread: boolean;
    },
  ) {
    this.api = api;
    this.executionProvider = executionProvider;
    this.#env = handles.env;
    this.#session = handles.session;
    this.#cpuMemory = handles.cpuMemory;
    this.#deviceMemory = handles.deviceMemory;
    this.#deviceAllocator = handles.deviceAllocator;
    this.#cudaDevice = handles.cudaDevice;
    this.#runThread = handles.runThread ? OrtRunThread.acquire(api.path) : undefined;
  }

  /**
   * Creates a session for an ONNX model (bytes or a file path) on the chosen provider.
   * Throws {@linkcode ExecutionProviderUnavailableError} when the provider is missing,
   * `OrtLibraryError` when the library does not load.
   */
  static create(source: Uint8Array | string, options: OrtSessionOptions = {}): OrtModelSession {
    const api = loadOrtApi(options.libraryPath);
    const { fn } = api;
    const provider = options.executionProvider ?? "cpu";
    const out = new OutPointer();
    api.check(
      fn.CreateEnv.call(options.logSeverity ?? 3, cString("interaction-worker"), out.cell),
      "CreateEnv",
    );
    const env = out.value;
    api.check(fn.CreateSessionOptions.call(out.cell), "CreateSessionOptions");
    const sessionOptions = out.value;
    try {
      api.check(fn.SetSessionGraphOptimizationLevel.call(sessionOptions, 99), "optimization level");
      api.check(fn.SetIntraOpNumThreads.call(sessionOptions, options.threads ?? 0), "threads");
      for (const [name, size] of Object.entries(options.fixedDimensions ?? {})) {
        api.check(
          fn.AddFreeDimensionOverrideByName.call(sessionOptions, cString(name), BigInt(size)),
          `fixed dimension "${name}"`,
        );
      }
      if (options.profilePrefix) {
        api.check(
          fn.EnableProfiling.call(sessionOptions, cString(options.profilePrefix)),
          "profile",
        );
      }
      if (provider !== "cpu") {
        try {
          appendProvider(api, sessionOptions, provider, options.providerOptions ?? {});
        } catch (error) {
          throw new ExecutionProviderUnavailableError(provider, (error as Error).message);
        }
      }
      if (typeof source === "string") {
        api.check(
          fn.CreateSession.call(env, cString(source), sessionOptions, out.cell),
          "CreateSession",
        );
      } else {
        api.check(
          fn.CreateSessionFromArray.call(
            env,
            source as Uint8Array<ArrayBuffer>,
            BigInt(source.byteLength),
            sessionOptions,
            out.cell,
          ),
          "CreateSessionFromArray",
        );
      }
    } catch (error) {
      fn.ReleaseSessionOptions.call(sessionOptions);
      fn.ReleaseEnv.call(env);
      throw error;
    }
    fn.ReleaseSessionOptions.call(sessionOptions);
    const session = out.value;
    api.check(fn.CreateCpuMemoryInfo.call(1, 0, out.cell), "CreateCpuMemoryInfo");
    const cpuMemory = out.value;
    let deviceMemory: Deno.PointerValue = null;
    let deviceAllocator: Deno.PointerValue = null;
    if (provider !== "cpu") {
      api.check(
        fn.CreateMemoryInfo.call(cString(PROVIDER_MEMORY_NAMES[provider]), 0, 0, 0, out.cell),
        "CreateMemoryInfo",
      );
      deviceMemory = out.value;
      api.check(fn.CreateAllocator.call(session, deviceMemory, out.cell), "CreateAllocator");
      deviceAllocator = out.value;
    }
    return new OrtModelSession(api, provider, {
      env,
      session,
      cpuMemory,
      deviceMemory,
      deviceAllocator,
      cudaDevice: Number(options.providerOptions?.device_id ?? 0),
      runThread: options.runThread ?? provider === "cuda",
    });
  }

  /** Whether "device" tensors live in memory apart from the host's. */
  get hasDeviceMemory(): boolean {
    return this.#deviceAllocator !== null;
  }

  /** A tensor over a host buffer (kept alive by the tensor); the run reads or writes it. */
  hostTensor(data: ArrayBufferView, type: ElementTypeName, dims: readonly number[]): OrtTensor {
    if (data.byteLength < tensorBytes(type, dims)) {
      throw new RangeError(`a buffer of ${data.byteLength} bytes is too small for [${dims}]`);
    }
    return this.#wrap(this.#cpuMemory, bufferPointer(data), type, dims, data);
  }

  /**
   * A tensor in the provider's memory: device memory on a GPU provider, a host buffer on the
   * CPU. It starts zeroed (the WebGPU specification zeroes new buffers; CUDA memory is cleared
   * here, gpu-worker/ort/cuda_memory.ts). Throws {@linkcode DeviceOutOfMemoryError} when it
   * does not fit.
   */
  deviceTensor(type: ElementTypeName, dims: readonly number[]): OrtTensor {
    const bytes = tensorBytes(type, dims);
    if (!this.hasDeviceMemory) {
      let buffer: ArrayBuffer;
      try {
        buffer = new ArrayBuffer(bytes);
      } catch (error) {
        throw new DeviceOutOfMemoryError(bytes, (error as Error).message);
      }
      return this.hostTensor(new Uint8Array(buffer), type, dims);
    }
    const out = new OutPointer();
    try {
      this.api.check(
        this.api.fn.CreateTensorAsOrtValue.call(
          this.#deviceAllocator,
          new BigInt64Array(dims.map(BigInt)),
          BigInt(dims.length),
          ElementType[type],
          out.cell,
        ),
        "CreateTensorAsOrtValue",
      );
    } catch (error) {
      if (error instanceof OrtCallError) throw new DeviceOutOfMemoryError(bytes, error.message);
      throw error;
    }
    const tensor = new OrtTensor(this.api, out.value, type, dims);
    if (this.executionProvider === "cuda" && bytes > 0) {
      try {
        zeroCudaMemory(this.#dataPointer(tensor), bytes, this.#cudaDevice);
      } catch (error) {
        tensor.release();
        throw error;
      }
    }
    return tensor;
  }

  #dataPointer(tensor: OrtTensor): Deno.PointerValue {
    const out = new OutPointer();
    this.api.check(
      this.api.fn.GetTensorMutableData.call(tensor.pointer, out.cell),
      "GetTensorMutableData",
    );
    return out.value;
  }

  /**
   * A tensor over the first elements of `tensor`'s memory, with a shorter leading dimension
   * (no copy; `tensor` must outlive it). On WebGPU a tensor's data handle is its buffer, so
   * only prefixes can be viewed, never an offset.
   */
  prefixView(tensor: OrtTensor, dims: readonly number[]): OrtTensor {
    if (tensorBytes(tensor.type, dims) > tensor.bytes) {
      throw new RangeError(`a view of [${dims}] exceeds its tensor [${tensor.dims}]`);
    }
    const memory = tensor.host ? this.#cpuMemory : this.#deviceMemory;
    return this.#wrap(memory, this.#dataPointer(tensor), tensor.type, dims, tensor.host);
  }

  /** An `OrtValue` over memory someone else owns (`host`, when given, is kept alive). */
  #wrap(
    memory: Deno.PointerValue,
    data: Deno.PointerValue,
    type: ElementTypeName,
    dims: readonly number[],
    host?: ArrayBufferView,
  ): OrtTensor {
    const out = new OutPointer();
    this.api.check(
      this.api.fn.CreateTensorWithDataAsOrtValue.call(
        memory,
        data,
        BigInt(tensorBytes(type, dims)),
        new BigInt64Array(dims.map(BigInt)),
        BigInt(dims.length),
        ElementType[type],
        out.cell,
      ),
      "CreateTensorWithDataAsOrtValue",
    );
    return new OrtTensor(this.api, out.value, type, dims, host);
  }

  /** A new I/O binding on this session. */
  binding(): OrtIoBinding {
    return new OrtIoBinding(this.api, this.#session, this.#runThread);
  }

  /** Releases the session and what it holds. Tensors made from it must be released first. */
  release(): void {
    if (this.#session === null) return;
    const { fn } = this.api;
    if (this.#deviceAllocator !== null) fn.ReleaseAllocator.call(this.#deviceAllocator);
    if (this.#deviceMemory !== null) fn.ReleaseMemoryInfo.call(this.#deviceMemory);
    fn.ReleaseMemoryInfo.call(this.#cpuMemory);
    fn.ReleaseSession.call(this.#session);
    fn.ReleaseEnv.call(this.#env);
    this.#session = null;
    this.#runThread?.release();
  }
}
