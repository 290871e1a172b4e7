import assert from "node:assert/strict";
import { OnnxGraphBuilder } from "../model/onnx_graph_builder.ts";
import { defaultOrtLibraryPath, loadOrtApi, OrtLibraryError } from "./ort_api.ts";
import { ExecutionProviderUnavailableError, OrtModelSession } from "./ort_session.ts";

function identityModel(): Uint8Array {
  const g = new OnnxGraphBuilder("identity");
  g.node("Identity", [g.input("x", "float32", ["n"])], {}, ["y"]);
  g.output("y", "float32", ["n"]);
  return g.build();
}

const cudaProviderPath = defaultOrtLibraryPath().replace(
  /[^/]*$/,
  "libonnxruntime_providers_cuda.so",
);
// Where an operator installed the CUDA provider beside npm's library, the first test is moot.
const cudaInstalled = (() => {
  try {
    return Deno.statSync(cudaProviderPath).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "asking for CUDA where its provider library is not installed fails at start, saying which library did not load",
  ignore: cudaInstalled,
  fn() {
    assert.throws(
      () => OrtModelSession.create(identityModel(), { executionProvider: "cuda", logSeverity: 4 }),
      (error) =>
        error instanceof ExecutionProviderUnavailableError &&
        /"cuda" is not available/.test(error.message) &&
        /libonnxruntime_providers_(shared|cuda)\.so/.test(error.message),
    );
  },
});

Deno.test("a library that does not load fails with its path", () => {
  const path = "/nonexistent/libonnxruntime.so.1";
  assert.throws(
    () => loadOrtApi(path),
    (error) => error instanceof OrtLibraryError && error.message.includes(path),
  );
});
