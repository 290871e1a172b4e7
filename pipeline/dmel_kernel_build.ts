/**
 * Builds pipeline/dmel_kernel.wasm from pipeline/dmel_kernel.c: `deno task build:wasm`, with
 * clang and its WebAssembly linker (Debian's `clang-19` and `lld-19`). The module is committed,
 * so running the system needs no compiler; the build is deterministic (no debug or name
 * sections), and CI rebuilds it to check the committed module is this source's.
 *
 * @module
 */

/** The kernel's C source. */
export const DMEL_KERNEL_SOURCE = new URL("./dmel_kernel.c", import.meta.url);
/** The committed module pipeline/dmel.ts imports. */
export const DMEL_KERNEL_MODULE = new URL("./dmel_kernel.wasm", import.meta.url);

/** The compiler the build runs: `$CLANG`, else `clang-19`. */
export function dmelKernelCompiler(): string {
  return Deno.env.get("CLANG") ?? "clang-19";
}

/** Compiles the kernel into `out`; throws with the compiler's output when it fails. */
export async function buildDmelKernel(out: URL | string = DMEL_KERNEL_MODULE): Promise<void> {
  const { success, stderr } = await new Deno.Command(dmelKernelCompiler(), {
    args: [
      "--target=wasm32",
      "-O3",
      "-msimd128",
      "-mbulk-memory",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--strip-all",
      "-o",
      out instanceof URL ? out.pathname : out,
      DMEL_KERNEL_SOURCE.pathname,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`building the dMel kernel: ${new TextDecoder().decode(stderr)}`);
}

if (import.meta.main) {
  await buildDmelKernel();
  console.log(`wrote ${DMEL_KERNEL_MODULE.pathname}`);
}
