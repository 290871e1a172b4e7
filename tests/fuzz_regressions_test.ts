/**
 * Every crash `deno task fuzz` ever found (tests/fixtures/fuzz/<target>-<hash>.bin), replayed:
 * each parser must now answer it with its own typed refusal or a parse. Also a short fuzz run of
 * each target, so a new crash shows up in CI.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { FUZZ_TARGETS, parseOrRefuse } from "./fuzz_targets.ts";

Deno.test("saved fuzz crashes are each refused cleanly by their parser", async () => {
  const dir = new URL("./fixtures/fuzz/", import.meta.url);
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".bin")) continue;
    const target = FUZZ_TARGETS.find((t) => entry.name.startsWith(`${t.name}-`));
    assert.ok(target, `${entry.name} names no fuzz target`);
    const bytes = await Deno.readFile(new URL(entry.name, dir));
    assert.doesNotThrow(() => parseOrRefuse(target, bytes), `${entry.name}`);
  }
});

for (const target of FUZZ_TARGETS) {
  Deno.test(`the ${target.name} parser takes 2000 arbitrary and mutated inputs without crashing`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1024 }),
          fc.constantFrom(...target.seeds).chain((valid) =>
            fc.tuple(fc.nat(valid.length), fc.uint8Array({ maxLength: 16 })).map(([cut, tail]) =>
              new Uint8Array([...valid.subarray(0, cut), ...tail])
            )
          ),
        ),
        (bytes) => {
          parseOrRefuse(target, bytes);
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
  });
}
