/**
 * Copies between host buffers and tensors that stay in a GPU provider's memory. A captured
 * WebGPU graph replays with the buffers it was recorded with, so a step's inputs must be
 * written into the same device tensors every time, and its outputs read out of them. The C API
 * has no plain copy for a provider built into the library, so a copy is a run of a tiny
 * session on the same provider (and the same device and queue): `Identity` per tensor, its
 * inputs bound to the sources (a host input is copied to the device as it is bound), its
 * outputs bound to the destinations. Queued on the device's one queue, a copy is ordered
 * with the runs before and after it; one whose destination is on the host waits for them.
 *
 * @module
 */
import { OnnxGraphBuilder } from "./model/onnx_graph_builder.ts";
import {
  type ExecutionProvider,
  type OrtIoBinding,
  OrtModelSession,
  type OrtTensor,
} from "./ort/ort_session.ts";
import type { ElementTypeName } from "./ort/ort_api.ts";

/** What one copy moves: tensors of these element types and ranks, in this order. */
export type CopyShape = readonly { type: ElementTypeName; rank: number }[];

/** A copy of a fixed list of tensors, run as often as asked; see the module doc. */
export class DeviceCopy {
  readonly #session: OrtModelSession;
  readonly #binding: OrtIoBinding;
  readonly #shape: CopyShape;

  /**
   * A copy of tensors of `shape` on `executionProvider` (with the provider options of the
   * session whose tensors it copies, so it runs on the same device).
   */
  constructor(
    executionProvider: ExecutionProvider,
    shape: CopyShape,
    options: { providerOptions?: Record<string, string>; libraryPath?: string } = {},
  ) {
    const g = new OnnxGraphBuilder("device_copy");
    shape.forEach(({ type, rank }, i) => {
      const dims = Array.from({ length: rank }, (_, d) => `d${i}_${d}`);
      g.node("Identity", [g.input(`from_${i}`, type, dims)], {}, [`to_${i}`]);
      g.output(`to_${i}`, type, dims);
    });
    this.#shape = shape;
    this.#session = OrtModelSession.create(g.build(), {
      executionProvider,
      providerOptions: options.providerOptions,
      libraryPath: options.libraryPath,
    });
    this.#binding = this.#session.binding();
  }

  /**
   * Copies `from[i]` into `to[i]` (same type and shape, in the order of the copy's shape), off
   * the event loop; resolves once a copy to the host has landed, or once a copy to the device
   * is queued ahead of whatever runs next.
   */
  async run(from: readonly OrtTensor[], to: readonly OrtTensor[]): Promise<void> {
    if (from.length !== this.#shape.length || to.length !== this.#shape.length) {
      throw new RangeError(`a copy of ${this.#shape.length} tensors, not ${from.length}`);
    }
    const binding = this.#binding;
    try {
      binding.clear();
      for (let i = 0; i < from.length; i++) {
        await binding.inputAsync(`from_${i}`, from[i]);
        binding.output(`to_${i}`, to[i]);
      }
      await binding.run();
    } finally {
      binding.clear();
    }
  }

  /** Releases the copy's session. */
  release(): void {
    this.#binding.release();
    this.#session.release();
  }
}
