/**
 * The execution providers a session can run on, and how each is added to a session's options:
 * WebGPU is built into the library and takes the generic call; CUDA lives in
 * `libonnxruntime_providers_cuda` beside the library and takes its own options object.
 *
 * @module
 */
import { bufferPointer, cString, type OrtApi, OutPointer } from "./ort_api.ts";

/** Execution providers the worker can be configured with. */
export type ExecutionProvider = "cpu" | "webgpu" | "cuda";

/** Raised when an execution provider is not available in the loaded library. */
export class ExecutionProviderUnavailableError extends Error {
  /**
   * @param provider the provider asked for
   * @param detail ONNX Runtime's reason
   */
  constructor(provider: ExecutionProvider, detail: string) {
    super(`execution provider "${provider}" is not available: ${detail}`);
    this.name = "ExecutionProviderUnavailableError";
  }
}

/** Each GPU provider's memory, as `CreateMemoryInfo` names it. */
export const PROVIDER_MEMORY_NAMES: Readonly<Record<Exclude<ExecutionProvider, "cpu">, string>> = {
  webgpu: "WebGPU_Buffer",
  cuda: "Cuda",
};

/**
 * The provider option that records a run's device work once and replays it (static shapes and
 * I/O bound to the same tensors every run): WebGPU's graph capture, CUDA graphs.
 */
export const GRAPH_CAPTURE_OPTION: Readonly<Record<Exclude<ExecutionProvider, "cpu">, string>> = {
  webgpu: "enableGraphCapture",
  cuda: "enable_cuda_graph",
};

/**
 * Adds `provider` to the session options. WebGPU is built into the library and takes the
 * generic call; CUDA lives in `libonnxruntime_providers_cuda` beside the library (loaded here,
 * with the CUDA libraries it needs) and takes its own options object.
 */
export function appendProvider(
  api: OrtApi,
  sessionOptions: Deno.PointerValue,
  provider: Exclude<ExecutionProvider, "cpu">,
  providerOptions: Record<string, string>,
): void {
  const { fn } = api;
  const entries = Object.entries(providerOptions);
  const keys = entries.map(([key]) => cString(key));
  const values = entries.map(([, value]) => cString(value));
  const pointers = (list: Uint8Array[]) =>
    new BigUint64Array(list.map((s) => BigInt(Deno.UnsafePointer.value(bufferPointer(s)))));
  if (provider === "webgpu") {
    api.check(
      fn.SessionOptionsAppendExecutionProvider.call(
        sessionOptions,
        cString("WebGPU"),
        pointers(keys),
        pointers(values),
        BigInt(entries.length),
      ),
      "SessionOptionsAppendExecutionProvider",
    );
    return;
  }
  const out = new OutPointer();
  api.check(fn.CreateCUDAProviderOptions.call(out.cell), "CreateCUDAProviderOptions");
  const cudaOptions = out.value;
  try {
    if (entries.length > 0) {
      api.check(
        fn.UpdateCUDAProviderOptions.call(
          cudaOptions,
          pointers(keys),
          pointers(values),
          BigInt(entries.length),
        ),
        "UpdateCUDAProviderOptions",
      );
    }
    api.check(
      fn.SessionOptionsAppendExecutionProvider_CUDA_V2.call(sessionOptions, cudaOptions),
      "SessionOptionsAppendExecutionProvider_CUDA_V2",
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}${cudaLoadFailure(api.path)}`);
  } finally {
    fn.ReleaseCUDAProviderOptions.call(cudaOptions);
  }
}

/**
 * Why the CUDA provider beside the ONNX Runtime library at `libraryPath` does not load (ONNX
 * Runtime's status only says that it did not): the loader's own message for the first of its
 * libraries that fails, or nothing.
 */
function cudaLoadFailure(libraryPath: string): string {
  const directory = libraryPath.replace(/[^/]*$/, "");
  for (const name of ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"]) {
    try {
      Deno.dlopen(`${directory}${name}`, {}).close();
    } catch (error) {
      return ` (${(error as Error).message})`;
    }
  }
  return "";
}
