"""Exports a trained checkpoint to the worker's model contract (`interaction-v3`: keys stored
by position, which interaction-v4 workers load as they are; docs/model-contract.md) with
torch.onnx.export, then stores the weights as float16.

    python3 train/export.py CHECKPOINT OUT.onnx [--reference-out=FILE.json]

The exported graph is the streaming step: the micro-turns' packed inputs, each session's
key/value rings bound in place (`past_*` in, `present_*` out, each layer writing its new
positions with ScatterElements), attention over the rings under the same visibility rule the
reference model uses. Weights are stored as float16 and cast to float32 when the model loads
(half the file; the runtime computes in float32 on every provider). `--reference-out` writes
PyTorch's whole-sequence outputs for a fixed input, which gpu-worker/trained_model_test.ts
compares with ONNX Runtime's streaming ones.
"""

import argparse
import json
import math

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import helper, numpy_helper, TensorProto

from model import (
    DMEL_BINS,
    DMEL_FRAMES_PER_TURN,
    InteractionModel,
    ModelSize,
    POSITIONS_PER_TURN,
    SAMPLES_PER_POSITION,
    SAMPLES_PER_TURN,
    TEXT_BYTES,
    rotary_tables,
    rotate,
)

CONTRACT = "interaction-v3"
DMEL_CODES = DMEL_FRAMES_PER_TURN * DMEL_BINS
IMAGE_INDEX = DMEL_CODES + TEXT_BYTES


class StreamingStep(nn.Module):
    """The contract's step around an InteractionModel's modules."""

    def __init__(self, model: InteractionModel):
        super().__init__()
        self.model = model
        self.cache_length = model.size.window + model.size.headroom

    def forward(self, turn_ints, turn_floats, patches, row_state, slot_state, *caches):
        model, size = self.model, self.model.size
        layers, heads, dh, L = size.layers, size.heads, model.head_size, self.cache_length
        b, m = turn_ints.shape[0], turn_ints.shape[1]
        codes = turn_ints[:, :, :DMEL_CODES].reshape(b, m, DMEL_FRAMES_PER_TURN, DMEL_BINS)
        text = turn_ints[:, :, DMEL_CODES:IMAGE_INDEX]
        image_index = turn_ints[:, :, IMAGE_INDEX].long()
        elapsed = turn_floats[:, :, 0]
        noise = turn_floats[:, :, 1:]
        per_image = model.image_embedding(patches)
        images = torch.cat([per_image, per_image[:1] * 0], dim=0)
        x = model.embed(codes, text, images[image_index], elapsed)
        T = x.shape[1]
        position = row_state[:, 0].long()
        step_slots = row_state[:, 1].long()
        cache_head = row_state[:, 2].long()
        slot_rows = slot_state[:, 0].long()
        newest = slot_state[:, 1].long()
        filled = slot_state[:, 2].long()
        steps = torch.arange(T, device=x.device)
        cos, sin = rotary_tables(position.unsqueeze(1) + steps, dh)
        cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # [b, T, 1, dh/2]
        ring_at = cache_head.unsqueeze(1) + steps
        ring_at = torch.where(ring_at < L, ring_at, ring_at - L)
        head_start = (torch.arange(heads, device=x.device) * L).reshape(1, heads, 1)
        write_rows = (step_slots * heads * L).reshape(-1, 1, 1) + head_start + ring_at.unsqueeze(1)
        write_index = write_rows.reshape(-1, 1).expand(-1, dh)  # [b * H * T, dh]
        ring = torch.arange(L, device=x.device)
        difference = newest.unsqueeze(1) - ring
        age = torch.where(difference < 0, difference + L, difference)  # [s, L]
        lag = (T - 1 - steps).reshape(1, T, 1)
        age_row = age.unsqueeze(1)  # [s, 1, L]
        reach = torch.minimum(filled.reshape(-1, 1, 1), lag + size.window)
        visible = (age_row >= lag) & (age_row < reach)  # [s, T, L]
        bias = torch.where(visible, 0.0, -10_000.0).unsqueeze(1)  # [s, 1, T, L]
        presents = []
        for layer, block in enumerate(model.blocks):
            h = block.norm1(x)
            to_heads = lambda t: t.reshape(b, T, heads, dh)
            q = rotate(to_heads(block.query(h)), cos, sin)
            k = rotate(to_heads(block.key(h)), cos, sin)
            v = to_heads(block.value(h))
            flat = lambda t: t.transpose(1, 2).reshape(-1, dh)
            keys = torch.scatter(caches[2 * layer], 0, write_index, flat(k).to(caches[0].dtype))
            values = torch.scatter(caches[2 * layer + 1], 0, write_index, flat(v).to(caches[0].dtype))
            presents += [keys, values]
            q_slots = torch.cat([q, q[:1] * 0], dim=0)[slot_rows]  # [s, T, H, dh]
            ring_keys = keys.reshape(-1, heads, L, dh).to(torch.float32)
            ring_values = values.reshape(-1, heads, L, dh).to(torch.float32)
            scores = torch.matmul(q_slots.transpose(1, 2), ring_keys.transpose(2, 3)) / math.sqrt(dh)
            weights = torch.softmax(scores + bias, dim=-1)
            attended = torch.matmul(weights, ring_values).transpose(1, 2).reshape(-1, T, heads * dh)
            x = x + block.out(attended[step_slots])
            x = block.feed_forward(x)
        x, text_logits, control_logits = model.heads(x)
        audio = model.flow(x, noise.reshape(b, T, SAMPLES_PER_POSITION)).reshape(b, m, SAMPLES_PER_TURN)
        return (audio, text_logits, control_logits, *presents)


def load(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = InteractionModel(ModelSize(**state["size"]))
    model.load_float32(state["model"])
    model.eval()
    return model, state


def to_float16_weights(proto, minimum=256):
    """Stores float32 initializers of at least `minimum` values as float16, each cast back to
    float32 by a node the runtime folds at load."""
    graph = proto.graph
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        if values.size < minimum:
            continue
        name = initializer.name
        half = numpy_helper.from_array(values.astype(np.float16), name + "_fp16")
        initializer.CopyFrom(half)
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


def set_shape(value, dims):
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for dim in dims:
        entry = shape.dim.add()
        if isinstance(dim, int):
            entry.dim_value = dim
        else:
            entry.dim_param = dim


def export(model, state, out, name):
    size = model.size
    step = StreamingStep(model)
    L = step.cache_length
    dh = model.head_size
    b, m, slots = 2, 1, 2
    rows = slots * size.heads * L
    inputs = (
        torch.zeros(b, m, IMAGE_INDEX + 1, dtype=torch.int32),
        torch.zeros(b, m, 1 + SAMPLES_PER_TURN, dtype=torch.float32),
        torch.zeros(1, 12, 40, 40, 3, dtype=torch.uint8),
        torch.tensor([[0, 0, 0], [0, 1, 0]], dtype=torch.int32),
        torch.tensor([[0, 9, 10], [1, 9, 10]], dtype=torch.int32),
        *[torch.zeros(rows, dh) for _ in range(2 * size.layers)],
    )
    cache_names = [f"past_{kind}_{l}" for l in range(size.layers) for kind in ("keys", "values")]
    present_names = [n.replace("past_", "present_") for n in cache_names]
    input_names = ["turn_ints", "turn_floats", "patches", "row_state", "slot_state", *cache_names]
    output_names = ["audio", "text_logits", "control_logits", *present_names]
    dynamic = {
        "turn_ints": {0: "batch", 1: "turns"},
        "turn_floats": {0: "batch", 1: "turns"},
        "patches": {0: "images"},
        "row_state": {0: "batch"},
        "slot_state": {0: "slots"},
        "audio": {0: "batch", 1: "turns"},
        "text_logits": {0: "batch", 1: "turns"},
        "control_logits": {0: "batch", 1: "turns"},
        **{n: {0: "cache_rows"} for n in cache_names + present_names},
    }
    torch.onnx.export(
        step,
        inputs,
        out,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(out)
    shapes = {
        "audio": ["batch", "turns", SAMPLES_PER_TURN],
        "text_logits": ["batch", "turns", 256],
        "control_logits": ["batch", "turns", 3],
        **{n: ["cache_rows", dh] for n in present_names},
    }
    for output in proto.graph.output:
        set_shape(output, shapes[output.name])
    to_float16_weights(proto)
    parameters = sum(p.numel() for p in model.parameters())
    metadata = {
        "contract": CONTRACT,
        "name": name,
        "parameters": str(parameters),
        "window": str(size.window),
        "cache_length": str(L),
        "heads": str(size.heads),
        "trained_steps": str(state.get("steps", 0)),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, out)
    return parameters


def reference(model, out, turns=12, seed=3):
    """PyTorch's whole-sequence outputs for a fixed input, for the ONNX Runtime comparison:
    OUT (JSON: inputs, logits) and OUT with .f32 for .json (float32: the noise, then the
    audio). The weights are rounded to float16 first, as the exported file stores them."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.numel() >= 256:
                parameter.copy_(parameter.half().float())
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 16, (1, turns, DMEL_FRAMES_PER_TURN, DMEL_BINS), generator=generator)
    codes[:, : turns // 2] //= 4  # a quieter first half
    text = torch.zeros(1, turns, TEXT_BYTES, dtype=torch.int64)
    text[0, 3, :5] = torch.tensor(list(b"hello"))
    elapsed = torch.arange(turns, dtype=torch.float32).unsqueeze(0) * 0.2
    noise = (torch.rand(1, turns * POSITIONS_PER_TURN, SAMPLES_PER_POSITION, generator=generator) * 2 - 1) * math.sqrt(3)
    with torch.no_grad():
        x, text_logits, control_logits = model(codes, text, elapsed, torch.zeros(1, dtype=torch.long))
        audio = model.flow(x, noise)
    json.dump(
        {
            "turns": turns,
            "codes": codes.flatten().tolist(),
            "text": text.flatten().tolist(),
            "elapsed": elapsed.flatten().tolist(),
            "text_logits": [round(v, 5) for v in text_logits.flatten().tolist()],
            "control_logits": [round(v, 5) for v in control_logits.flatten().tolist()],
        },
        open(out, "w"),
    )
    floats = torch.cat([noise.flatten(), audio.flatten()]).numpy().astype("<f4")
    floats.tofile(out.removesuffix(".json") + ".f32")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--name", default="trained-interaction")
    parser.add_argument("--reference-out")
    parser.add_argument(
        "--speak-bias",
        type=float,
        default=0.0,
        help="added to the control head's speak logit: calibrates how readily the model takes the turn",
    )
    args = parser.parse_args()
    model, state = load(args.checkpoint)
    with torch.no_grad():
        model.control_head.bias[1] += args.speak_bias
    parameters = export(model, state, args.out, args.name)
    print(f"{args.out}: {parameters} parameters, window {model.size.window}")
    if args.reference_out:
        reference(model, args.reference_out)
