/**
 * Clears CUDA device memory. ONNX Runtime's CUDA allocator hands out memory as it finds it,
 * and the worker relies on a new device tensor reading zero (a cache slot's unwritten
 * positions are masked, but a masked NaN still poisons the row it is summed into). The C API
 * has no fill, so this calls the CUDA runtime the CUDA provider itself links (`cudaMemset`),
 * opened by the same name once it is loaded.
 *
 * @module
 */

/** Sonames of the CUDA runtime, newest first; the CUDA provider has loaded one of them. */
const CUDA_RUNTIMES = ["libcudart.so.13", "libcudart.so.12", "libcudart.so"];

/** Raised when the CUDA runtime cannot be reached or refuses a call. */
export class CudaRuntimeError extends Error {
  /** @param message what failed */
  constructor(message: string) {
    super(message);
    this.name = "CudaRuntimeError";
  }
}

const SYMBOLS = {
  cudaSetDevice: { parameters: ["i32"], result: "i32" },
  cudaMemset: { parameters: ["pointer", "i32", "usize"], result: "i32" },
  cudaDeviceSynchronize: { parameters: [], result: "i32" },
} as const;

let runtime: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function cudaRuntime(): Deno.DynamicLibrary<typeof SYMBOLS> {
  if (runtime) return runtime;
  const failures: string[] = [];
  for (const name of CUDA_RUNTIMES) {
    try {
      return runtime = Deno.dlopen(name, SYMBOLS);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  throw new CudaRuntimeError(`cannot open the CUDA runtime: ${failures.join("; ")}`);
}

/**
 * Sets `bytes` of device memory at `pointer` on CUDA device `device` to zero and waits until
 * that is done (allocation time only: it synchronizes the device).
 */
export function zeroCudaMemory(pointer: Deno.PointerValue, bytes: number, device = 0): void {
  const { symbols } = cudaRuntime();
  const check = (code: number, call: string) => {
    if (code !== 0) throw new CudaRuntimeError(`${call} failed with CUDA error ${code}`);
  };
  check(symbols.cudaSetDevice(device), "cudaSetDevice");
  check(symbols.cudaMemset(pointer, 0, BigInt(bytes)), "cudaMemset");
  check(symbols.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}
