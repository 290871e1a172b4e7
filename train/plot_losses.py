"""Plots a training run's loss curves (train/train.py's log.jsonl lines, runs appended in order)
as a PNG: each loss on the training batch and on the held-out conversations, by training
minute.

    python3 train/plot_losses.py LOG.jsonl [FINE_TUNE_LOG.jsonl ...] OUT.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LOSSES = ["control", "text", "wave", "stft", "flow"]


def main():
    *logs, out = sys.argv[1:]
    records = []
    for log in logs:
        run = [json.loads(line) for line in open(log) if line.strip()]
        # A fine-tune's log counts its time from zero: it follows the run before it.
        offset = records[-1]["seconds"] if records and run and run[0]["seconds"] < records[-1]["seconds"] else 0
        records += [{**r, "seconds": r["seconds"] + offset} for r in run]
    figure, axes = plt.subplots(1, len(LOSSES), figsize=(4 * len(LOSSES), 3.4))
    minutes = [r["seconds"] / 60 for r in records]
    for axis, name in zip(axes, LOSSES):
        axis.plot(minutes, [r["train"].get(name) for r in records], label="training batch", linewidth=0.8)
        axis.plot(minutes, [r["held_out"].get(name) for r in records], label="held out", linewidth=1.2)
        axis.set_title(name)
        axis.set_xlabel("minutes on one H100")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend()
    steps = records[-1]["step"] if records else 0
    figure.suptitle(f"trained interaction model: {steps} steps")
    figure.tight_layout()
    figure.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
