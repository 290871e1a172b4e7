/**
 * A small builder for ONNX graphs on top of `npm:onnx-proto`, so the project can generate
 * its own models in TypeScript: named inputs and outputs, float or int64 initializers, and
 * nodes with attributes. Serializes to the bytes onnxruntime loads.
 *
 * @module
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** The opset the generated models target (LayerNormalization and friends need 17). */
export const ONNX_OPSET = 17;

/** Element types the builder declares. */
export type OnnxElementType = "float32" | "float16" | "int32" | "int64" | "uint8";

/** The domain of ONNX Runtime's contrib operators (GroupQueryAttention and friends). */
export const MICROSOFT_DOMAIN = "com.microsoft";

/** A dimension: a fixed size or a symbolic name such as `"batch"`. */
export type OnnxDim = number | string;

/** Attribute values a node can carry. */
export type OnnxAttribute = number | number[] | string | { float: number } | { floats: number[] };

/** ONNX's code of each element type (`TensorProto.DataType`), e.g. for a Cast's `to`. */
export const ELEMENT_TYPES: Readonly<Record<OnnxElementType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/** Accumulates a graph and serializes it as an ONNX model. */
export class OnnxGraphBuilder {
  #nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  #initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  #inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  #outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  #names = new Set<string>();
  #counter = 0;
  #parameterCount = 0;

  /** @param name graph name recorded in the model */
  constructor(readonly name: string) {}

  /** Number of float parameters held in initializers so far. */
  get parameterCount(): number {
    return this.#parameterCount;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, type: OnnxElementType, dims: OnnxDim[]): string {
    this.#inputs.push(valueInfo(this.#claim(name), type, dims));
    return name;
  }

  /** Declares an existing value as a graph output. */
  output(name: string, type: OnnxElementType, dims: OnnxDim[]): void {
    this.#outputs.push(valueInfo(name, type, dims));
  }

  /**
   * Adds a learned initializer (a weight), stored as `type` (float16 rounds to nearest);
   * counts toward {@linkcode parameterCount}.
   */
  weight(
    name: string,
    values: Float32Array,
    dims: number[],
    type: "float32" | "float16" = "float32",
  ): string {
    this.#parameterCount += values.length;
    const data = type === "float16" ? new Float16Array(values) : values;
    return this.#tensor(
      name,
      ELEMENT_TYPES[type],
      dims,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  /** Adds a float constant that is not a learned parameter (float32 unless `type` says). */
  floats(
    name: string,
    values: number[],
    dims: number[] = [values.length],
    type: "float32" | "float16" = "float32",
  ): string {
    const data = type === "float16" ? Float16Array.from(values) : Float32Array.from(values);
    return this.#tensor(name, ELEMENT_TYPES[type], dims, new Uint8Array(data.buffer));
  }

  /**
   * Adds a learned initializer stored as raw bytes (block-quantized weights: `parameters` is the
   * number of weights the bytes hold, counted toward {@linkcode parameterCount}).
   */
  packedWeight(name: string, bytes: Uint8Array, dims: number[], parameters: number): string {
    this.#parameterCount += parameters;
    return this.#tensor(name, ELEMENT_TYPES.uint8, dims, bytes);
  }

  /** Adds an int32 constant (indices). */
  int32s(name: string, values: number[], dims: number[] = [values.length]): string {
    const data = Int32Array.from(values);
    return this.#tensor(name, ELEMENT_TYPES.int32, dims, new Uint8Array(data.buffer));
  }

  /** Adds an int64 constant (shapes, axes, indices). */
  ints(name: string, values: number[], dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map(BigInt));
    return this.#tensor(name, onnx.TensorProto.DataType.INT64, dims, new Uint8Array(data.buffer));
  }

  /**
   * Adds a node and returns the names of its outputs (generated unless given).
   * @param outputs output names, or a count of outputs to generate names for
   * @param domain operator domain: "" for ONNX's own, {@linkcode MICROSOFT_DOMAIN} for contrib ops
   */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
    outputs: string[] | number = 1,
    domain = "",
  ): string[] {
    const names = typeof outputs === "number"
      ? Array.from({ length: outputs }, () => this.#fresh(opType))
      : outputs.map((name) => this.#claim(name));
    this.#nodes.push(
      onnx.NodeProto.create({
        opType,
        domain,
        input: inputs,
        output: names,
        name: this.#fresh(`${opType}_node`),
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return names;
  }

  /** Shorthand for a single-output node. */
  op(opType: string, inputs: string[], attributes: Record<string, OnnxAttribute> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }

  /** Serializes the model. `metadata` lands in the model's metadata_props. */
  build(metadata: Record<string, string> = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: onnx.Version.IR_VERSION,
      producerName: "interaction-serving",
      opsetImport: [{ domain: "", version: ONNX_OPSET }, { domain: MICROSOFT_DOMAIN, version: 1 }],
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  #tensor(name: string, dataType: number, dims: number[], rawData: Uint8Array): string {
    this.#initializers.push(
      onnx.TensorProto.create({ name: this.#claim(name), dataType, dims, rawData }),
    );
    return name;
  }

  #claim(name: string): string {
    if (this.#names.has(name)) throw new RangeError(`ONNX value name used twice: ${name}`);
    this.#names.add(name);
    return name;
  }

  #fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.#counter++}`; while (this.#names.has(name));
    this.#names.add(name);
    return name;
  }
}

function valueInfo(name: string, type: OnnxElementType, dims: OnnxDim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES[type],
        shape: {
          dim: dims.map((dim) => typeof dim === "number" ? { dimValue: dim } : { dimParam: dim }),
        },
      },
    },
  });
}

function attribute(name: string, value: OnnxAttribute) {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === "string") {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (typeof value === "number") return { name, type: AttributeType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}
