import assert from "node:assert/strict";
import { OnnxGraphBuilder } from "../model/onnx_graph_builder.ts";
import { OrtCallError } from "./ort_api.ts";
import { OrtModelSession } from "./ort_session.ts";
import { OrtRunThread } from "./run_thread.ts";

/** `sum = a + b` over float32 vectors of any length. */
function addModel(): Uint8Array {
  const g = new OnnxGraphBuilder("add");
  g.node("Add", [g.input("a", "float32", ["n"]), g.input("b", "float32", ["n"])], {}, ["sum"]);
  g.output("sum", "float32", ["n"]);
  return g.build();
}

Deno.test("runs on the dedicated run thread write the same outputs as runs on Deno's pool, many in turn", async () => {
  const sessions = [true, false, true].map((runThread) =>
    OrtModelSession.create(addModel(), { runThread })
  );
  assert.equal(OrtRunThread.live, 1, "the sessions of one library share one thread");
  try {
    const sums = [];
    for (const session of sessions.slice(0, 2)) {
      const a = new Float32Array([1, 2, 3, 4]);
      const b = new Float32Array(4);
      const sum = new Float32Array(4);
      const tensors = [a, b, sum].map((data) => session.hostTensor(data, "float32", [4]));
      const binding = session.binding();
      binding.input("a", tensors[0]);
      binding.input("b", tensors[1]);
      binding.output("sum", tensors[2]);
      for (let step = 0; step < 20; step++) {
        b.fill(step);
        await binding.run();
        assert.deepEqual([...sum], [1 + step, 2 + step, 3 + step, 4 + step]);
      }
      sums.push([...sum]);
      binding.release();
      for (const tensor of tensors) tensor.release();
    }
    assert.deepEqual(sums[0], sums[1]);
  } finally {
    sessions[0].release();
    assert.equal(OrtRunThread.live, 1, "the thread outlives a session while another uses it");
    for (const session of sessions) session.release();
  }
  assert.equal(OrtRunThread.live, 0, "the thread ends with the last session's release");
});

Deno.test("a run the thread's ONNX Runtime refuses rejects with its error, and the thread goes on", async () => {
  const session = OrtModelSession.create(addModel(), { runThread: true, logSeverity: 4 });
  const data = [new Float32Array(4), new Float32Array(3), new Float32Array(4)];
  const tensors = data.map((array) => session.hostTensor(array, "float32", [array.length]));
  const binding = session.binding();
  try {
    binding.input("a", tensors[0]);
    binding.input("b", tensors[1]);
    binding.output("sum", tensors[2]);
    await assert.rejects(
      binding.run(),
      (error) => error instanceof OrtCallError && error.call === "RunWithBinding",
    );
    binding.input("b", tensors[0]);
    data[0].set([1, 2, 3, 4]);
    await binding.run();
    assert.deepEqual([...data[2]], [2, 4, 6, 8]);
  } finally {
    binding.release();
    for (const tensor of tensors) tensor.release();
    session.release();
  }
});
