/**
 * The body of {@linkcode OrtRunThread}'s thread: the first message names the ONNX Runtime
 * library, every later one is a run, made synchronously and answered in order.
 *
 * @module
 */
import { loadOrtApi, type OrtApi, OrtCallError } from "./ort_api.ts";
import type { RunReply, RunRequest } from "./run_thread.ts";

declare const self: Worker;

let api: OrtApi | undefined;

self.onmessage = (event: MessageEvent<RunRequest | { libraryPath: string }>) => {
  const data = event.data;
  if ("libraryPath" in data) {
    api = loadOrtApi(data.libraryPath);
    return;
  }
  const reply: RunReply = { id: data.id };
  try {
    const session = Deno.UnsafePointer.create(data.session);
    const binding = Deno.UnsafePointer.create(data.binding);
    api!.check(api!.fn.RunWithBinding.call(session, null, binding), "RunWithBinding");
    api!.check(api!.fn.SynchronizeBoundOutputs.call(binding), "SynchronizeBoundOutputs");
  } catch (error) {
    reply.error = error instanceof OrtCallError
      ? { call: error.call, code: error.code, message: error.detail }
      : { call: "RunWithBinding", code: -1, message: (error as Error).message };
  }
  self.postMessage(reply);
};
