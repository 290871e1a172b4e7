/**
 * The runtime's packed form of a contract model's step: before it runs a model, the worker adds
 * a few nodes to its graph so that a step's per-row inputs (`turn_ints`, `turn_floats` and
 * `row_state`) arrive as one float32 tensor and its per-row outputs (`audio`, `text_logits`,
 * `control_logits`) leave as one. A GPU provider pays a fixed cost for every tensor it copies
 * between host and device (ONNX Runtime's WebGPU provider ~1.4 ms, bench/step_io_probe.ts), so
 * five copies a step become two. The integers travel as float32, exact below 2^24 (a position
 * counter reaches that after 93 hours of one session). The contract itself is unchanged: the
 * model is checked as written, and this is how the runtime feeds it.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import {
  CONTROL_CLASSES,
  ROW_STATE,
  TEXT_VOCABULARY,
  TURN_FLOATS,
  TURN_INTS,
} from "./model_contract.ts";
import { ELEMENT_TYPES } from "./onnx_graph_builder.ts";
import { SAMPLES_PER_MICRO_TURN } from "../../protocol/media_format.ts";

const { onnx } = onnxProto;

/** Where a packed row's parts start, and its size (float32 columns). */
export interface PackedTurnLayout {
  /** `turn_ints`. */
  readonly ints: number;
  /** `turn_floats`, or with a noise bank the elapsed seconds then the noise's bank row. */
  readonly floats: number;
  /** `row_state`. */
  readonly rowState: number;
  /** Columns in all. */
  readonly size: number;
  /** Whether the noise comes from the bank ({@linkcode NOISE_BANK_NAME}) by row. */
  readonly noiseBank: boolean;
}

/** Columns of the packed input, float32 `[batch, turns, size]` (row state repeated per turn). */
export const PACKED_TURN: PackedTurnLayout = {
  ints: 0,
  floats: TURN_INTS.size,
  rowState: TURN_INTS.size + TURN_FLOATS.size,
  size: TURN_INTS.size + TURN_FLOATS.size + ROW_STATE.size,
  noiseBank: false,
};

/**
 * Columns of the packed input when the noise comes from a bank bound in the provider's memory
 * (gpu-worker/flow_noise.ts): the elapsed seconds and the bank row take two columns instead of
 * 3,201, and a row is a third of the size.
 */
export const BANKED_PACKED_TURN: PackedTurnLayout = {
  ints: 0,
  floats: TURN_INTS.size,
  rowState: TURN_INTS.size + 2,
  size: TURN_INTS.size + 2 + ROW_STATE.size,
  noiseBank: true,
};

/** Name of the bank input of a model packed with {@linkcode BANKED_PACKED_TURN}. */
export const NOISE_BANK_NAME = "noise_bank";

/** Columns of the packed output, float32 `[batch, turns, size]`. */
export const PACKED_OUTPUT = {
  audio: 0,
  textLogits: SAMPLES_PER_MICRO_TURN,
  controlLogits: SAMPLES_PER_MICRO_TURN + TEXT_VOCABULARY,
  size: SAMPLES_PER_MICRO_TURN + TEXT_VOCABULARY + CONTROL_CLASSES.length,
} as const;

/** Name of the packed input. */
export const PACKED_INPUT_NAME = "packed_turns";
/** Name of the packed output. */
export const PACKED_OUTPUT_NAME = "packed_outputs";

const UNPACKED_INPUTS = ["turn_ints", "turn_floats", "row_state"];
const UNPACKED_OUTPUTS = ["audio", "text_logits", "control_logits"];

/**
 * The model's bytes with its per-row inputs and outputs packed (see the module doc), in
 * `layout`; with {@linkcode BANKED_PACKED_TURN} it takes the noise bank as an input, `[rows,
 * samples]`, and gathers each row's noise from it.
 */
export function packStepIo(
  modelBytes: Uint8Array,
  layout: PackedTurnLayout = PACKED_TURN,
): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph!;
  const name = (suffix: string) => `__packed_${suffix}`;
  const int64 = (suffix: string, value: number) =>
    onnx.TensorProto.create({
      name: name(suffix),
      dataType: onnx.TensorProto.DataType.INT64,
      dims: [1],
      int64Data: [value],
    });
  const constants = [
    int64("ints_start", layout.ints),
    int64("floats_start", layout.floats),
    int64("bank_row_start", layout.floats + 1),
    int64("row_state_start", layout.rowState),
    int64("row_state_end", layout.size),
    int64("zero", 0),
    int64("one", 1),
    int64("last_axis", -1),
  ];
  const { AttributeType } = onnx.AttributeProto;
  const node = (opType: string, input: string[], output: string, attribute: object[] = []) =>
    onnx.NodeProto.create({ opType, input, output: [output], name: `${output}_node`, attribute });
  const toInt32 = { name: "to", type: AttributeType.INT, i: ELEMENT_TYPES.int32 };
  const axis0 = { name: "axis", type: AttributeType.INT, i: 0 };
  const lastAxis = { name: "axis", type: AttributeType.INT, i: -1 };
  /** Columns [from, to) of the packed input's last axis. */
  const columns = (from: string, to: string, output: string) =>
    node("Slice", [PACKED_INPUT_NAME, name(from), name(to), name("last_axis")], output);
  const unpack = [
    columns("ints_start", "floats_start", name("ints")),
    node("Cast", [name("ints")], "turn_ints", [toInt32]),
    ...(layout.noiseBank
      ? [
        columns("floats_start", "bank_row_start", name("elapsed")),
        columns("bank_row_start", "row_state_start", name("bank_row_float")),
        node("Squeeze", [name("bank_row_float"), name("last_axis")], name("bank_row_squeezed")),
        node("Cast", [name("bank_row_squeezed")], name("bank_row"), [toInt32]),
        node("Gather", [NOISE_BANK_NAME, name("bank_row")], name("noise"), [axis0]),
        node("Concat", [name("elapsed"), name("noise")], "turn_floats", [lastAxis]),
      ]
      : [columns("floats_start", "row_state_start", "turn_floats")]),
    columns("row_state_start", "row_state_end", name("row_state_turns")),
    // The row state of the first turn ([batch, 1, 3] to [batch, 3]).
    node(
      "Slice",
      [name("row_state_turns"), name("zero"), name("one"), name("one")],
      name("row_state_first"),
    ),
    node("Squeeze", [name("row_state_first"), name("one")], name("row_state_float")),
    node("Cast", [name("row_state_float")], "row_state", [toInt32]),
  ];
  const pack = node("Concat", UNPACKED_OUTPUTS, PACKED_OUTPUT_NAME, [lastAxis]);
  const valueInfo = (value: string, size: number) =>
    onnx.ValueInfoProto.create({
      name: value,
      type: {
        tensorType: {
          elemType: ELEMENT_TYPES.float32,
          shape: { dim: [{ dimParam: "batch" }, { dimParam: "turns" }, { dimValue: size }] },
        },
      },
    });
  const bankInput = onnx.ValueInfoProto.create({
    name: NOISE_BANK_NAME,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES.float32,
        shape: { dim: [{ dimParam: "noise_bank_rows" }, { dimValue: SAMPLES_PER_MICRO_TURN }] },
      },
    },
  });
  graph.input = [
    valueInfo(PACKED_INPUT_NAME, layout.size),
    ...(layout.noiseBank ? [bankInput] : []),
    ...(graph.input ?? []).filter((input) => !UNPACKED_INPUTS.includes(input.name ?? "")),
  ];
  graph.output = [
    valueInfo(PACKED_OUTPUT_NAME, PACKED_OUTPUT.size),
    ...(graph.output ?? []).filter((output) => !UNPACKED_OUTPUTS.includes(output.name ?? "")),
  ];
  graph.initializer = [...(graph.initializer ?? []), ...constants];
  graph.node = [...unpack, ...(graph.node ?? []), pack];
  return onnx.ModelProto.encode(model).finish();
}
