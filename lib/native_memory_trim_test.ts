import assert from "node:assert/strict";
import { NativeMemoryTrimmer } from "./native_memory_trim.ts";

const isGlibc = Deno.build.target.endsWith("-linux-gnu");

/** This process's resident memory, MiB. */
const residentMiB = () => Deno.memoryUsage().rss / 2 ** 20;

Deno.test({
  name: "memory freed inside the C heap goes back to the system when trimmed",
  ignore: !isGlibc,
  async fn() {
    const libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
      memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
    });
    const trimmer = NativeMemoryTrimmer.open();
    assert.ok(trimmer, "Linux with glibc and FFI allowed: a trimmer");
    try {
      // 128 MiB in 4 KiB chunks (below malloc's mmap threshold: they live in its heap), written
      // so they are resident, then freed but for the last, which pins the heap's top.
      const chunks = Array.from({ length: 32_768 }, () => {
        const chunk = libc.symbols.malloc(4096n);
        libc.symbols.memset(chunk, 1, 4096n);
        return chunk;
      });
      for (const chunk of chunks.slice(0, -1)) libc.symbols.free(chunk);
      const freedButHeld = residentMiB();
      assert.equal(await trimmer.trim(), true, "memory was released");
      const trimmed = residentMiB();
      assert.ok(
        freedButHeld - trimmed > 100,
        `resident ${freedButHeld.toFixed(0)} MiB before the trim, ${trimmed.toFixed(0)} after`,
      );
      libc.symbols.free(chunks.at(-1)!);
    } finally {
      await trimmer.close();
      libc.close();
    }
  },
});

Deno.test({
  name: "without FFI permission there is no trimmer, and nothing fails",
  permissions: { ffi: false, read: true },
  fn() {
    assert.equal(NativeMemoryTrimmer.open(), undefined);
  },
});
