/**
 * Checks an ONNX file against the interaction contract (model_contract.ts) before any
 * runtime loads it, reading the graph's declared inputs, outputs and metadata straight from
 * the file, and returns the cache geometry the model declares. A mismatch is named.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import {
  type CacheGeometry,
  type KeyLayout,
  layerTensorName,
  LOADABLE_MODEL_CONTRACTS,
  MODEL_CONTRACT_VERSION,
  modelInputs,
  modelOutputs,
  POSITIONS_PER_MICRO_TURN,
  type TensorSpec,
} from "./model_contract.ts";

const { onnx } = onnxProto;

/** Raised when a model file does not match the contract; the message names the mismatch. */
export class ModelContractError extends Error {
  /** @param mismatch what differs from the contract */
  constructor(mismatch: string) {
    super(`model does not match the ${MODEL_CONTRACT_VERSION} contract: ${mismatch}`);
    this.name = "ModelContractError";
  }
}

const TYPE_NAMES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  6: "int32",
  7: "int64",
  10: "float16",
};

interface Declared {
  name: string;
  type: string;
  dims: (number | string)[];
}

/** Reads the model, checks it, returns its cache geometry; throws {@linkcode ModelContractError}. */
export function checkContract(modelBytes: Uint8Array): CacheGeometry {
  let model;
  try {
    model = onnx.ModelProto.decode(modelBytes);
  } catch (error) {
    throw new ModelContractError(`not an ONNX model (${(error as Error).message})`);
  }
  const metadata = new Map((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
  const contract = metadata.get("contract");
  if (contract !== undefined && !LOADABLE_MODEL_CONTRACTS.includes(contract)) {
    throw new ModelContractError(`its metadata says contract "${contract}"`);
  }
  const keyLayout = (metadata.get("key_layout") ?? "positions") as KeyLayout;
  if (keyLayout !== "positions" && keyLayout !== "features") {
    throw new ModelContractError(
      `metadata "key_layout" must be "positions" or "features", got "${keyLayout}"`,
    );
  }
  if (keyLayout === "features" && contract !== MODEL_CONTRACT_VERSION) {
    throw new ModelContractError(
      `keys stored by feature need contract "${MODEL_CONTRACT_VERSION}" in its metadata`,
    );
  }
  const graph = model.graph;
  if (!graph) throw new ModelContractError("it has no graph");
  const declared = (values: typeof graph.input): Declared[] =>
    (values ?? []).map((v) => ({
      name: v.name ?? "",
      type: TYPE_NAMES[v.type?.tensorType?.elemType ?? 0] ?? "not a supported tensor",
      dims: (v.type?.tensorType?.shape?.dim ?? []).map((dim) =>
        dim.dimValue !== undefined && dim.dimValue !== null && Number(dim.dimValue) > 0
          ? Number(dim.dimValue)
          : dim.dimParam ?? "?"
      ),
    }));
  // Initializers may be listed among the inputs by older exporters; they are not inputs.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = declared(graph.input).filter((input) => !initializers.has(input.name));
  const outputs = declared(graph.output);
  // At least one layer: a model with none is then told every per-layer input it lacks.
  const layers = Math.max(1, inputs.filter((m) => /^past_keys_\d+$/.test(m.name)).length);
  const fixed = new Map<string, number>();
  let cacheType: string | undefined;
  const check = (kind: string, templates: readonly TensorSpec[], actual: Declared[]) => {
    const specs = templates.flatMap((spec) =>
      spec.name.includes("{layer}")
        ? Array.from(
          { length: layers },
          (_, l) => ({ ...spec, name: layerTensorName(spec.name, l) }),
        )
        : [spec]
    );
    const names = actual.map((m) => m.name);
    const expected = specs.map((s) => s.name);
    const missing = expected.filter((name) => !names.includes(name));
    const extra = names.filter((name) => !expected.includes(name));
    if (missing.length || extra.length) {
      throw new ModelContractError(
        [
          missing.length ? `${kind}s missing [${missing.join(", ")}]` : "",
          extra.length ? `unexpected ${kind}s [${extra.join(", ")}]` : "",
        ].filter(Boolean).join(", "),
      );
    }
    for (const spec of specs) {
      const meta = actual.find((m) => m.name === spec.name)!;
      if (spec.type === "cache") {
        if (meta.type !== "float32" && meta.type !== "float16") {
          throw new ModelContractError(
            `${kind} "${spec.name}" is ${meta.type}, expected float32 or float16`,
          );
        }
        cacheType ??= meta.type;
        if (meta.type !== cacheType) {
          throw new ModelContractError(
            `${kind} "${spec.name}" is ${meta.type}, the cache ${cacheType}`,
          );
        }
      } else if (meta.type !== spec.type) {
        throw new ModelContractError(
          `${kind} "${spec.name}" is ${meta.type}, expected ${spec.type}`,
        );
      }
      const wrong = () =>
        new ModelContractError(
          `${kind} "${spec.name}" has shape [${meta.dims.join(", ")}], expected [${
            spec.dims.join(", ")
          }]`,
        );
      if (meta.dims.length !== spec.dims.length) throw wrong();
      spec.dims.forEach((dim, i) => {
        const actualDim = meta.dims[i];
        const symbolic = typeof actualDim !== "number";
        if (typeof dim === "number") {
          if (actualDim !== dim) throw wrong();
        } else if (dim.startsWith("cache:")) {
          if (symbolic || (fixed.has(dim) && fixed.get(dim) !== actualDim)) throw wrong();
          fixed.set(dim, actualDim);
        } else if (!symbolic) {
          throw wrong();
        }
      });
    }
  };
  check("input", modelInputs(keyLayout), inputs);
  check("output", modelOutputs(keyLayout), outputs);
  const heads = Number(metadata.get("heads"));
  if (!Number.isInteger(heads) || heads <= 0) {
    throw new ModelContractError(
      `metadata "heads" must be a positive integer, got "${metadata.get("heads") ?? ""}"`,
    );
  }
  const window = Number(metadata.get("window"));
  const cacheLength = Number(metadata.get("cache_length"));
  if (!Number.isInteger(window) || window <= 0 || window % POSITIONS_PER_MICRO_TURN !== 0) {
    throw new ModelContractError(
      `metadata "window" must be a positive multiple of ${POSITIONS_PER_MICRO_TURN}, got "${
        metadata.get("window") ?? ""
      }"`,
    );
  }
  if (!Number.isInteger(cacheLength) || cacheLength < window + POSITIONS_PER_MICRO_TURN) {
    throw new ModelContractError(
      `metadata "cache_length" must be at least window + ${POSITIONS_PER_MICRO_TURN} (${
        window + POSITIONS_PER_MICRO_TURN
      }), got "${metadata.get("cache_length") ?? ""}"`,
    );
  }
  const headSize = fixed.get("cache:head_size")!;
  if (keyLayout === "features") {
    const keyFeatures = fixed.get("cache:key_features")!;
    if (keyFeatures !== heads * headSize) {
      throw new ModelContractError(
        `its key rings hold ${keyFeatures} features a position, not heads x head size (${
          heads * headSize
        })`,
      );
    }
    if (fixed.get("cache:cache_length") !== cacheLength) {
      throw new ModelContractError(
        `its key rings hold ${fixed.get("cache:cache_length")} positions, metadata ` +
          `"cache_length" says ${cacheLength}`,
      );
    }
  }
  return {
    layers,
    heads,
    headSize,
    window,
    cacheLength,
    cacheType: cacheType as "float32" | "float16",
    keyLayout,
  };
}
