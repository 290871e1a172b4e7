/**
 * The foundation's reference interaction model: small, deterministic from a seed, and built
 * to the full input/output contract, so every part of the system runs end to end with a real
 * ONNX session and no downloads. It is a recurrent model: dMel codes through a table per mel
 * bin (summed), text bytes through an embedding, log elapsed time through a projection, all
 * fused into one state update; heads for audio, text and control read the new state.
 *
 * @module
 */
import { OnnxGraphBuilder } from "./onnx_graph_builder.ts";
import {
  CONTROL_CLASSES,
  MODEL_CONTRACT_VERSION,
  MODEL_INPUTS,
  MODEL_OUTPUTS,
  TEXT_VOCABULARY,
} from "./model_contract.ts";
import { seededRandom } from "../../lib/seeded_random.ts";
import { DMEL_BINS, DMEL_LEVELS, SAMPLES_PER_MICRO_TURN } from "../../protocol/media_format.ts";

/** Options for {@linkcode buildMinimalModel}. */
export interface MinimalModelOptions {
  /** Hidden and state width. Default 64. */
  width?: number;
  /** Weight seed. Default 1. */
  seed?: number;
}

/** A built model: its ONNX bytes and what it is. */
export interface BuiltModel {
  /** Serialized ONNX model. */
  bytes: Uint8Array;
  /** Model name for logs and the session row. */
  name: string;
  /** Learned parameter count. */
  parameters: number;
  /** State width the runtime allocates per session. */
  stateWidth: number;
}

/** Peak amplitude of the output audio head, well below full scale. */
const AUDIO_GAIN = 0.05;

/** Builds the minimal reference model deterministically from `seed`. */
export function buildMinimalModel(options: MinimalModelOptions = {}): BuiltModel {
  const width = options.width ?? 64;
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const uniform = (count: number, fanIn: number) => {
    const bound = Math.sqrt(3 / fanIn);
    return Float32Array.from({ length: count }, () => (2 * random() - 1) * bound);
  };
  const g = new OnnxGraphBuilder("minimal_interaction_model");
  for (const spec of MODEL_INPUTS) {
    g.input(spec.name, spec.type, spec.dims.map((d) => d === "state" ? width : d));
  }

  // dMel: code c of bin b indexes row b * LEVELS + c of one table, then the bins are summed
  // (a table per bin, stored as one) and the frames averaged.
  const binOffsets = g.ints(
    "dmel_bin_offsets",
    Array.from({ length: DMEL_BINS }, (_, b) => b * DMEL_LEVELS),
  );
  const dmelTable = g.weight("dmel_table", uniform(DMEL_BINS * DMEL_LEVELS * width, DMEL_BINS), [
    DMEL_BINS * DMEL_LEVELS,
    width,
  ]);
  const dmelRows = g.op("Add", ["dmel_codes", binOffsets]);
  const dmelEmbedded = g.op("Gather", [dmelTable, dmelRows]);
  const perFrame = g.op("ReduceSum", [dmelEmbedded, g.ints("axis_bins", [2])], { keepdims: 0 });
  const audioIn = g.op("ReduceMean", [perFrame], { axes: [1], keepdims: 0 });

  // Text: byte 0 is padding and maps to a zero row, so padding adds nothing.
  const textTable = uniform(TEXT_VOCABULARY * width, 8);
  textTable.fill(0, 0, width);
  const textEmbedded = g.op("Gather", [
    g.weight("text_table", textTable, [TEXT_VOCABULARY, width]),
    "text_bytes",
  ]);
  const textIn = g.op("ReduceSum", [textEmbedded, g.ints("axis_text", [1])], { keepdims: 0 });

  // Time: log(1 + seconds), so minutes and days both stay in range.
  const logTime = g.op("Log", [g.op("Add", ["elapsed_s", g.floats("one", [1], [1])])]);
  const timeIn = g.op("MatMul", [
    logTime,
    g.weight("time_projection", uniform(width, 1), [1, width]),
  ]);

  const fused = g.op("Add", [g.op("Add", [audioIn, textIn]), timeIn]);
  const update = g.op("Add", [
    g.op("MatMul", [
      fused,
      g.weight("input_to_state", uniform(width * width, width), [width, width]),
    ]),
    g.op("MatMul", [
      "state",
      g.weight("state_to_state", uniform(width * width, 2 * width), [width, width]),
    ]),
  ]);
  g.node(
    "Tanh",
    [g.op("Add", [update, g.weight("state_bias", uniform(width, width), [width])])],
    {},
    [
      "state_out",
    ],
  );

  const audioHead = g.weight("audio_head", uniform(width * SAMPLES_PER_MICRO_TURN, width), [
    width,
    SAMPLES_PER_MICRO_TURN,
  ]);
  g.node(
    "Mul",
    [
      g.op("Tanh", [g.op("MatMul", ["state_out", audioHead])]),
      g.floats("audio_gain", [AUDIO_GAIN], [1]),
    ],
    {},
    ["audio"],
  );
  g.node(
    "MatMul",
    [
      "state_out",
      g.weight("text_head", uniform(width * TEXT_VOCABULARY, width), [
        width,
        TEXT_VOCABULARY,
      ]),
    ],
    {},
    ["text_logits"],
  );
  g.node(
    "MatMul",
    [
      "state_out",
      g.weight("control_head", uniform(width * CONTROL_CLASSES.length, width), [
        width,
        CONTROL_CLASSES.length,
      ]),
    ],
    {},
    ["control_logits"],
  );
  for (const spec of MODEL_OUTPUTS) {
    g.output(spec.name, spec.type, spec.dims.map((d) => d === "state" ? width : d));
  }
  const name = `minimal-w${width}-s${seed}`;
  const bytes = g.build({ contract: MODEL_CONTRACT_VERSION, name, state_width: String(width) });
  return { bytes, name, parameters: g.parameterCount, stateWidth: width };
}
