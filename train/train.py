"""Trains the interaction model on generated conversations (train/conversations.py) within a
time budget, writing checkpoints and a loss log.

    python3 train/train.py --data DIR --out DIR [--minutes 8.5] [--total-minutes 17]
        [--resume CHECKPOINT] [--batch 32] [--turns 150]

A run stops after --minutes; --resume goes on from a checkpoint (weights, optimizer, steps and
time trained), so a budget longer than one command fits in several, the learning-rate schedule
spanning --total-minutes of training.

Losses: the control decision of every micro-turn (cross-entropy), its text byte
(cross-entropy), and where the assistant speaks its audio: the flow head's 4 Euler steps
unrolled from the noise against the line's waveform (mean squared error, scaled by the speech's
variance, plus a log-magnitude STFT distance over each micro-turn), and the flow-matching
velocity at the Euler steps' times. Writes OUT/checkpoint.pt (every two minutes and at the
end) and OUT/log.jsonl (one line per 50 steps, training and held-out losses).
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from conversations import SPEAK, Corpus, compose
from model import InteractionModel, ModelSize, POSITIONS_PER_TURN, SAMPLES_PER_POSITION, SAMPLES_PER_TURN


class Conversations(IterableDataset):
    def __init__(self, folder, turns, seed):
        self.folder, self.turns, self.seed = folder, turns, seed

    def __iter__(self):
        info = get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        corpus = Corpus(self.folder)
        while True:
            yield compose(corpus, rng, self.turns)


def batch_of(items, device):
    stack = lambda key: torch.from_numpy(np.stack([i[key] for i in items])).to(device, non_blocking=True)
    return {key: stack(key) for key in items[0]}


def line_bank(corpus, device):
    """The assistant's lines, each padded with a micro-turn of silence: [lines, length]."""
    length = max(len(a) for a in corpus.line_audio) + 2 * SAMPLES_PER_TURN
    bank = torch.zeros(len(corpus.line_audio), length)
    for i, audio in enumerate(corpus.line_audio):
        bank[i, : len(audio)] = torch.from_numpy(audio)
    return bank.to(device)


def stft_distance(prediction, target):
    window = torch.hann_window(512, device=prediction.device)
    spectrum = lambda x: torch.stft(x, 512, 128, window=window, return_complex=True).abs()
    return (torch.log(spectrum(prediction) + 1e-4) - torch.log(spectrum(target) + 1e-4)).abs().mean()


def losses(model, batch, bank, rng):
    codes, typed = batch["codes"], batch["typed"]
    b, m = codes.shape[0], codes.shape[1]
    elapsed_start = torch.from_numpy(rng.uniform(0, 300, size=b).astype(np.float32)).to(codes.device)
    elapsed = elapsed_start.unsqueeze(1) + 0.2 * torch.arange(1, m + 1, device=codes.device)
    start = (elapsed_start / 0.02).long()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=codes.is_cuda):
        x, text_logits, control_logits = model(codes, typed, elapsed, start)
    # The micro-turns where the assistant starts count five times, where it stops ten: their
    # timing is what the interactivity benchmark measures.
    control = batch["control"]
    changes = torch.zeros_like(control, dtype=torch.bool)
    changes[:, 1:] = control[:, 1:] != control[:, :-1]
    stops = torch.zeros_like(changes)
    stops[:, 1:] = changes[:, 1:] & (control[:, 1:] == 0)
    weights = 1 + 4 * changes.float() + 5 * stops.float()
    per_turn = F.cross_entropy(control_logits.float().reshape(-1, 3), control.reshape(-1), reduction="none")
    control_loss = (per_turn * weights.reshape(-1)).sum() / weights.sum()
    text_loss = F.cross_entropy(text_logits.float().reshape(-1, 256), batch["text"].reshape(-1))
    speaking = batch["control"] == SPEAK
    result = {"control": control_loss, "text": text_loss}
    if speaking.any():
        hidden = x.float().reshape(b, m, POSITIONS_PER_TURN, -1)[speaking]  # [n, 10, d]
        n = hidden.shape[0]
        where = batch["offset"][speaking].unsqueeze(1) + torch.arange(SAMPLES_PER_TURN, device=x.device)
        target = bank[batch["line"][speaking].unsqueeze(1), where].reshape(n, POSITIONS_PER_TURN, SAMPLES_PER_POSITION)
        noise = (torch.rand_like(target) * 2 - 1) * math.sqrt(3)
        audio = model.flow(hidden, noise)
        variance = target.var() + 1e-4
        result["wave"] = F.mse_loss(audio, target) / variance
        result["stft"] = stft_distance(audio.reshape(n, -1), target.reshape(n, -1))
        steps = model.size.flow_steps
        t = torch.randint(0, steps, (n, POSITIONS_PER_TURN, 1), device=x.device).float() / steps
        goal = torch.atanh(target.clamp(-0.97, 0.97))
        blend = (1 - t) * noise + t * goal
        velocity = model.velocity(blend, model.flow_condition(hidden), t)
        result["flow"] = F.mse_loss(velocity, goal - noise)
    return result


WEIGHTS = {"control": 1.0, "text": 0.5, "wave": 1.0, "stft": 1.0, "flow": 0.3}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=8.5)
    parser.add_argument("--total-minutes", type=float, default=17)
    parser.add_argument("--resume")
    parser.add_argument("--init", help="start from these weights (a fine-tune: new optimizer and schedule)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="{}", help="JSON overrides of ModelSize")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    state = torch.load(args.resume, map_location=device, weights_only=False) if args.resume else None
    size = ModelSize(**(state["size"] if state else json.loads(args.size)))
    model = InteractionModel(size).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{parameters} parameters on {device}", flush=True)
    corpus = Corpus(args.data)
    bank = line_bank(corpus, device)
    held_out_rng = np.random.default_rng(12345)
    held_out = [batch_of([compose(corpus, held_out_rng, args.turns) for _ in range(args.batch)], device) for _ in range(4)]
    loader = DataLoader(
        Conversations(args.data, args.turns, args.seed + 1000 * (1 if args.resume else 0)),
        batch_size=args.batch,
        num_workers=args.workers,
        collate_fn=lambda items: items,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
    )
    step, trained_before = 0, 0.0
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if args.init:
        initial = torch.load(args.init, map_location=device, weights_only=False)
        model.load_float32(initial["model"])
        step = initial["steps"]
        print(f"fine-tuning from step {step}", flush=True)
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, trained_before = state["steps"], state["seconds"]
        print(f"resumed at step {step} after {trained_before:.0f} s", flush=True)
    budget = args.minutes * 60
    began = time.time()
    last_save = began
    rng = np.random.default_rng([args.seed, step])
    log = open(out / "log.jsonl", "a" if args.resume else "w")

    def save(steps):
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "size": size.as_dict(),
                "steps": steps,
                "seconds": trained_before + time.time() - began,
            },
            out / "checkpoint.pt",
        )

    first_step = 0 if state else step
    for items in loader:
        elapsed = time.time() - began
        if elapsed > budget:
            break
        progress = min(1.0, (trained_before + elapsed) / (args.total_minutes * 60))
        lr = args.lr * min(1.0, (step - first_step + 1) / 300) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = batch_of(items, device)
        model.train()
        parts = losses(model, batch, bank, rng)
        total = sum(WEIGHTS[k] * v for k, v in parts.items())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 50 == 0:
            model.eval()
            with torch.no_grad():
                held = [losses(model, h, bank, np.random.default_rng(i)) for i, h in enumerate(held_out)]
            record = {
                "step": step,
                "seconds": round(trained_before + elapsed, 1),
                "lr": lr,
                "train": {k: round(v.item(), 4) for k, v in parts.items()},
                "held_out": {k: round(float(np.mean([h[k].item() for h in held if k in h])), 4) for k in WEIGHTS},
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if time.time() - last_save > 120:
            save(step)
            last_save = time.time()
    save(step)
    print(f"trained {step} steps in {time.time() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
