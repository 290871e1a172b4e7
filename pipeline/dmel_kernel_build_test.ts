import assert from "node:assert/strict";
import { buildDmelKernel, DMEL_KERNEL_MODULE, dmelKernelCompiler } from "./dmel_kernel_build.ts";

/**
 * Whether the compiler and its WebAssembly linker are here (CI installs them; a machine with
 * only Node and npm has neither, and the test is ignored there).
 */
async function hasCompiler(): Promise<boolean> {
  try {
    const { success, stdout } = await new Deno.Command(dmelKernelCompiler(), {
      args: ["-print-prog-name=wasm-ld"],
    }).output();
    return success && (await Deno.stat(new TextDecoder().decode(stdout).trim())).isFile;
  } catch {
    return false; // no compiler to spawn, or no linker where it says
  }
}

Deno.test({
  name: "the committed dMel kernel is what its C source builds to",
  ignore: !(await hasCompiler()),
  fn: async () => {
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      await buildDmelKernel(out);
      assert.deepEqual(
        await Deno.readFile(out),
        await Deno.readFile(DMEL_KERNEL_MODULE),
        "pipeline/dmel_kernel.wasm is stale: run `deno task build:wasm`",
      );
    } finally {
      await Deno.remove(out);
    }
  },
});
