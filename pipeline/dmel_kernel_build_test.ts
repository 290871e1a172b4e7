import assert from "node:assert/strict";
import { buildDmelKernel, DMEL_KERNEL_MODULE, dmelKernelCompiler } from "./dmel_kernel_build.ts";

/** Whether the compiler is here (CI installs it; a machine with only Node and npm has none). */
const hasCompiler = await new Deno.Command(dmelKernelCompiler(), { args: ["--version"] })
  .output().then((result) => result.success, () => false);

Deno.test({
  name: "the committed dMel kernel is what its C source builds to",
  ignore: !hasCompiler,
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
