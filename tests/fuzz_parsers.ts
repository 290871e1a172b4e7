/**
 * `deno task fuzz [--runs=250000] [--seed=N]`: property-based fuzzing (npm fast-check) of every
 * parser that reads outside input (tests/fuzz_targets.ts), `--runs` cases each, half arbitrary
 * bytes and half mutations of valid inputs (bytes flipped, cut, spliced, appended). A crash (any
 * error but the parser's own typed refusal) is shrunk by fast-check, saved under
 * tests/fixtures/fuzz/ (the regression test replays it from then on) and fails the run. Writes
 * the counts to bench/results/security.json.
 *
 * @module
 */
import fc from "fast-check";
import { FUZZ_TARGETS, type FuzzTarget, parseOrRefuse } from "./fuzz_targets.ts";
import { sha256Hex } from "../lib/hex.ts";
import { flag, mergeResult, numberFlag } from "../bench/bench_support.ts";

const runs = numberFlag("runs", 250_000);
const seed = numberFlag("seed", Date.now() % 2 ** 31);

/** Inputs for `target`: arbitrary bytes, or a valid seed mutated. */
function inputs(target: FuzzTarget): fc.Arbitrary<Uint8Array> {
  const arbitrary = fc.uint8Array({ maxLength: 4096 });
  const mutated = fc.tuple(
    fc.constantFrom(...target.seeds),
    fc.array(
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "cut", "insert")),
      { maxLength: 8 },
    ),
    fc.uint8Array({ maxLength: 64 }),
  ).map(([valid, edits, tail]) => {
    let bytes = Array.from(valid);
    for (const [at, value, kind] of edits) {
      const i = bytes.length ? at % bytes.length : 0;
      if (kind === "set") bytes[i] = value;
      else if (kind === "cut") bytes = bytes.slice(0, i);
      else bytes.splice(i, 0, value);
    }
    return new Uint8Array([...bytes, ...tail]);
  });
  return fc.oneof(arbitrary, mutated);
}

let cases = 0;
let crashes = 0;
const found: string[] = [];
const only = flag("target");
for (const target of FUZZ_TARGETS.filter((t) => !only || t.name === only)) {
  const started = performance.now();
  const result = fc.check(
    fc.property(inputs(target), (bytes) => {
      cases++;
      parseOrRefuse(target, bytes);
    }),
    { numRuns: runs, seed },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.failed) {
    crashes++;
    const [bytes] = result.counterexample!;
    const hash = (await sha256Hex(bytes)).slice(0, 12);
    const file = new URL(`./fixtures/fuzz/${target.name}-${hash}.bin`, import.meta.url);
    await Deno.writeFile(file, bytes);
    found.push(file.pathname);
    console.error(
      `${target.name}: CRASH after ${result.numRuns} cases (seed ${seed}), shrunk to ` +
        `${bytes.length} bytes, saved as ${file.pathname}: ${String(result.errorInstance)}`,
    );
  } else {
    console.log(`${target.name}: ${result.numRuns} cases, no crash (${seconds} s)`);
  }
}
console.log(`${cases} cases, ${crashes} crashes (seed ${seed})`);
await mergeResult("security.json", {
  fuzz_cases: cases,
  fuzz_crashes: crashes,
  fuzz_seed: seed,
  fuzz_targets: FUZZ_TARGETS.map((t) => t.name),
  fuzz_regressions_saved: found,
});
if (crashes) Deno.exit(1);
