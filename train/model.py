"""The reference interaction architecture in PyTorch (gpu-worker/model/reference_model.ts builds
the same one as an ONNX graph with random weights).

Each micro-turn (200 ms) appends 10 positions (one per 20 ms), fused early from
- dMel codes through a table per mel bin (summed over bins), two 10 ms hops per position;
- the micro-turn's camera frame through an hMLP stem (zero-initialised here: the training data
  has no camera, so a frame adds nothing until a model is trained with images);
- the typed UTF-8 bytes (mean embedding);
- elapsed wall time (log-scaled sinusoids);
- and, beyond the reference, a learned embedding of the position's place in its micro-turn
  (0-9), so the audio head knows which 20 ms of the micro-turn it writes;
into a pre-norm transformer with rotary positions, each query attending to itself and the
`window - 1` positions before it. Heads: text (one byte per micro-turn) and control
(silent/speak/delegate) on each micro-turn's last position; a flow head turning noise into each
position's 320 samples with a fixed number of Euler steps.

`forward` runs a whole sequence (training); train/export.py wraps the same modules in the
worker contract's streaming step with its key/value rings.
"""

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

DMEL_BINS = 80
DMEL_LEVELS = 16
DMEL_FRAMES_PER_TURN = 20
POSITIONS_PER_TURN = 10
SAMPLES_PER_POSITION = 320
SAMPLES_PER_TURN = 3200
TEXT_BYTES = 32
TEXT_VOCABULARY = 256
CONTROL_CLASSES = 3  # silent, speak, delegate
PATCH_SIDE = 40
PATCHES_PER_FRAME = 12
SUB_PATCH = 8
GRID = PATCH_SIDE // SUB_PATCH
TIME_FREQUENCIES = 16


@dataclass
class ModelSize:
    """Hyperparameters; `window` and `headroom` are in positions (multiples of 10)."""

    width: int = 256
    layers: int = 6
    heads: int = 4
    feed_forward: int = 1024
    window: int = 500
    headroom: int = 100
    stem_width: int = 16
    flow_width: int = 512
    flow_steps: int = 4

    def as_dict(self):
        return asdict(self)


def rotary_tables(positions, head_size):
    """cos, sin of each absolute position's angles: [..., head_size / 2]."""
    inverse = torch.pow(
        10_000.0,
        -2.0 * torch.arange(head_size // 2, dtype=torch.float32, device=positions.device) / head_size,
    )
    angles = positions.to(torch.float32).unsqueeze(-1) * inverse
    return torch.cos(angles), torch.sin(angles)


def rotate(x, cos, sin):
    """Rotates [..., head_size] by the angles (halves convention, as the reference model)."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class Block(nn.Module):
    """One pre-norm transformer layer; attention is supplied by the caller."""

    def __init__(self, size: ModelSize):
        super().__init__()
        d = size.width
        self.norm1 = nn.LayerNorm(d)
        self.query = nn.Linear(d, d, bias=False)
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.norm2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, size.feed_forward)
        self.down = nn.Linear(size.feed_forward, d)
        scale = 1 / math.sqrt(2 * size.layers)
        with torch.no_grad():
            self.out.weight.mul_(scale)
            self.down.weight.mul_(scale)

    def feed_forward(self, x):
        return x + self.down(F.silu(self.up(self.norm2(x))))


class InteractionModel(nn.Module):
    """The interaction model's weights and the parts both the trainer and the exporter use."""

    def __init__(self, size: ModelSize = ModelSize()):
        super().__init__()
        self.size = size
        d = size.width
        self.dmel_table = nn.Parameter(torch.randn(DMEL_BINS * DMEL_LEVELS, d) / math.sqrt(DMEL_BINS))
        self.pair = nn.Linear(2 * d, d)
        self.place = nn.Parameter(torch.zeros(POSITIONS_PER_TURN, d))
        self.text_table = nn.Embedding(TEXT_VOCABULARY, d)
        self.stem1 = nn.Linear(SUB_PATCH * SUB_PATCH * 3, size.stem_width)
        self.stem2 = nn.Linear(GRID * GRID * size.stem_width, d)
        nn.init.zeros_(self.stem2.weight)
        nn.init.zeros_(self.stem2.bias)
        self.time = nn.Linear(2 * TIME_FREQUENCIES, d, bias=False)
        self.blocks = nn.ModuleList([Block(size) for _ in range(size.layers)])
        self.norm = nn.LayerNorm(d)
        self.text_head = nn.Linear(d, TEXT_VOCABULARY)
        self.control_head = nn.Linear(d, CONTROL_CLASSES)
        f = size.flow_width
        self.flow_condition = nn.Linear(d, f, bias=False)
        self.flow_sample = nn.Linear(SAMPLES_PER_POSITION, f, bias=False)
        self.flow_time = nn.Parameter(torch.full((f,), 0.5))
        self.flow_bias = nn.Parameter(torch.zeros(f))
        self.flow_out = nn.Linear(f, SAMPLES_PER_POSITION, bias=False)
        self.register_buffer(
            "time_frequencies",
            torch.pow(2.0, torch.arange(TIME_FREQUENCIES, dtype=torch.float32) / 2),
            persistent=False,
        )

    @property
    def head_size(self):
        return self.size.width // self.size.heads

    def load_float32(self, weights):
        """Loads a state dict whose tensors may be float16 (the GPU machine sends them so): the model is float32."""
        self.load_state_dict({k: v.float() for k, v in weights.items()})

    def image_embedding(self, patches):
        """[images, 12, 40, 40, 3] uint8 -> [images, width]: hMLP stem, mean over patches."""
        pixels = patches.to(torch.float32) * (1 / 255)
        grid = pixels.reshape(-1, GRID, SUB_PATCH, GRID, SUB_PATCH, 3).permute(0, 1, 3, 2, 4, 5)
        sub = grid.reshape(-1, GRID * GRID, SUB_PATCH * SUB_PATCH * 3)
        level1 = F.silu(self.stem1(sub)).reshape(-1, GRID * GRID * self.size.stem_width)
        per_patch = self.stem2(level1).reshape(-1, PATCHES_PER_FRAME, self.size.width)
        return per_patch.mean(dim=1)

    def embed(self, codes, text, image, elapsed):
        """codes [b, m, 20, 80] int, text [b, m, 32] int, image [b, m, d], elapsed [b, m]
        -> [b, m * 10, d]."""
        b, m = codes.shape[0], codes.shape[1]
        d = self.size.width
        # One-hot per bin x the table sums one row per bin (a gather would hold a row per bin).
        levels = torch.arange(DMEL_LEVELS, device=codes.device, dtype=codes.dtype)
        one_hot = (codes.unsqueeze(-1) == levels).to(self.dmel_table.dtype)
        hops = one_hot.reshape(b, m, DMEL_FRAMES_PER_TURN, -1) @ self.dmel_table  # [b, m, 20, d]
        audio = self.pair(hops.reshape(b, m, POSITIONS_PER_TURN, 2 * d)) + self.place
        present = (text > 0).to(torch.float32)
        byte_sum = (self.text_table(text.long()) * present.unsqueeze(-1)).sum(dim=2)
        text_embedding = byte_sum / present.sum(dim=2, keepdim=True).clamp(min=1)
        phases = torch.log(elapsed.unsqueeze(-1) + 1) * self.time_frequencies
        time_embedding = self.time(torch.cat([torch.sin(phases), torch.cos(phases)], dim=-1))
        per_turn = text_embedding + image + time_embedding
        return (audio + per_turn.unsqueeze(2)).reshape(b, m * POSITIONS_PER_TURN, d)

    def heads(self, x):
        """Final norm, then the text and control logits of each micro-turn's last position."""
        x = self.norm(x)
        b = x.shape[0]
        last = x.reshape(b, -1, POSITIONS_PER_TURN, self.size.width)[:, :, -1]
        return x, self.text_head(last), self.control_head(last)

    def velocity(self, sample, condition, t):
        z = self.flow_sample(sample) + condition + self.flow_time * t + self.flow_bias
        return self.flow_out(F.silu(z))

    def flow(self, x, noise):
        """x [b, T, d] (normed), noise [b, T, 320] -> samples [b, T, 320] in [-1, 1]."""
        condition = self.flow_condition(x)
        sample = noise
        steps = self.size.flow_steps
        for step in range(steps):
            sample = sample + self.velocity(sample, condition, step / steps) / steps
        return torch.tanh(sample)

    def forward(self, codes, text, elapsed, start_positions):
        """A whole sequence with sliding-window causal attention.

        Returns the normed hidden states [b, T, d], text logits [b, m, 256] and control logits
        [b, m, 3]; the audio comes from `flow` on the hidden states (the trainer runs it only
        where the model speaks)."""
        b, m = codes.shape[0], codes.shape[1]
        image = torch.zeros(b, m, self.size.width, device=codes.device)
        x = self.embed(codes, text, image, elapsed)
        T = x.shape[1]
        heads, dh = self.size.heads, self.head_size
        positions = start_positions.unsqueeze(1) + torch.arange(T, device=x.device)
        cos, sin = rotary_tables(positions, dh)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # [b, 1, T, dh/2]
        steps = torch.arange(T, device=x.device)
        distance = steps.unsqueeze(1) - steps.unsqueeze(0)
        allowed = (distance >= 0) & (distance < self.size.window)
        for block in self.blocks:
            h = block.norm1(x)
            split = lambda t: t.reshape(b, T, heads, dh).transpose(1, 2)
            q = rotate(split(block.query(h)), cos, sin)
            k = rotate(split(block.key(h)), cos, sin)
            v = split(block.value(h))
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
            x = x + block.out(attended.transpose(1, 2).reshape(b, T, -1))
            x = block.feed_forward(x)
        return self.heads(x)
