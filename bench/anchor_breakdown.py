# Where the anchor's step time goes, by kind of GPU kernel: the geometry of
# ../shared/device/torch_step_anchor.py (the `base` reference's: 13 layers, width 768, 12 heads
# x 64, ff 3072, 10 new positions a session, a 1280-position window resident on the GPU, bf16),
# stepped under torch.profiler, its CUDA kernels' time summed into attention, projections
# (linear layers), cache writes and the rest. Set beside bench/worker_profile.ts's GPU time per
# program, it says what part of the worker's gap to the anchor is which kernel's.
#
#   python3 bench/anchor_breakdown.py OUT.json [sessions ...]   (on the GPU machine)
import json
import sys

import torch
from torch.profiler import ProfilerActivity, profile

L, D, H, HD, FF, W, Q = 13, 768, 12, 64, 3072, 1280, 10
dev, dt = "cuda", torch.bfloat16


class Layer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.n1 = torch.nn.LayerNorm(D)
        s.qkv = torch.nn.Linear(D, 3 * D)
        s.o = torch.nn.Linear(D, D)
        s.n2 = torch.nn.LayerNorm(D)
        s.f1 = torch.nn.Linear(D, FF)
        s.f2 = torch.nn.Linear(FF, D)

    def forward(s, x, kc, vc, pos):
        B = x.shape[0]
        q, k, v = s.qkv(s.n1(x)).view(B, Q, 3, H, HD).permute(2, 0, 3, 1, 4)
        kc[:, :, pos:pos + Q] = k
        vc[:, :, pos:pos + Q] = v
        a = torch.nn.functional.scaled_dot_product_attention(q, kc, vc)
        x = x + s.o(a.transpose(1, 2).reshape(B, Q, D))
        return x + s.f2(torch.nn.functional.gelu(s.f1(s.n2(x))))


def kind(name):
    n = name.lower()
    if "flash" in n or "fmha" in n or "attention" in n or "efficient" in n:
        return "attention"
    if "gemm" in n or "cutlass" in n or "sm90" in n or "cublas" in n or "matmul" in n:
        return "projections"
    if "copy" in n or "index" in n:
        return "cache_writes_and_copies"
    return "other"


def breakdown(B, steps=10):
    layers = torch.nn.ModuleList([Layer() for _ in range(L)]).to(dev, dt).eval()
    kcs = [torch.randn(B, H, W, HD, device=dev, dtype=dt) for _ in range(L)]
    vcs = [torch.randn(B, H, W, HD, device=dev, dtype=dt) for _ in range(L)]
    x = torch.randn(B, Q, D, device=dev, dtype=dt)

    def step():
        y = x
        for l in range(L):
            y = layers[l](y, kcs[l], vcs[l], 640)
        return y

    with torch.no_grad():
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                step()
            torch.cuda.synchronize()
    kinds, kernels = {}, []
    for event in prof.key_averages():
        us = getattr(event, "device_time_total", None)
        if us is None:
            us = event.cuda_time_total
        if us <= 0:
            continue
        ms = us / 1000 / steps
        kinds[kind(event.key)] = kinds.get(kind(event.key), 0) + ms
        kernels.append((ms, event.key[:90]))
    kernels.sort(reverse=True)
    return dict(
        sessions=B,
        gpu_ms_per_step={k: round(v, 3) for k, v in sorted(kinds.items())},
        gpu_ms_per_step_total=round(sum(kinds.values()), 3),
        top_kernels=[dict(ms=round(ms, 3), name=name) for ms, name in kernels[:8]],
    )


out = [breakdown(int(b)) for b in (sys.argv[2:] or ["64", "256"])]
for row in out:
    print(json.dumps(row))
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "anchor-breakdown.json", "w"), indent=1)
