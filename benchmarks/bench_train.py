"""Training and embedding throughput of iResNet-18 at 112 px (images per second).

Runs the real training loop (``Trainer.train_epoch``: batch gathering, augmentation,
forward, MagFace loss, backward, SGD step) on random in-memory maps, then embedding
(``embed_arrays``), in two settings in the same run:

* CUDA: fp32 against mixed precision (bf16 autocast) plus channels-last; GPU
  utilisation sampled with nvidia-smi during the mixed-precision epoch;
* CPU: fp32 contiguous against fp32 channels-last.

Usage: python benchmarks/bench_train.py [--device cuda] [--batch-size B] [--steps N]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recognition.config import TrainConfig
from recognition.data import MapsData
from recognition.embed import embed_arrays
from recognition.train import Trainer


def _data(n: int, size: int, people: int) -> MapsData:
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((n, 3, size, size), dtype=np.float32)
    maps /= np.linalg.norm(maps, axis=1, keepdims=True)
    mask = np.ones((n, 1, size, size), bool)
    subjects = np.array([f"p{i % people:04d}" for i in range(n)])
    return MapsData(maps, mask, subjects, np.array(["v00"] * n))


def _cpu_name() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class GpuSampler:
    """nvidia-smi utilisation samples every 100 ms while active."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
             "-lms", "100"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def stop(self) -> float:
        self.proc.terminate()
        out, _ = self.proc.communicate()
        values = [float(v) for v in out.split() if v.strip().isdigit()]
        return float(np.mean(values[2:])) if len(values) > 2 else float("nan")


def bench_train(
    config: TrainConfig, data: MapsData, device: str, *, channels_last_cpu: bool, gpu_util: bool
) -> tuple[float, float, float]:
    """(training img/s, embedding img/s, mean GPU utilisation % or NaN)."""
    trainer = Trainer(config, data, None, device=device)
    if channels_last_cpu:
        trainer.channels_last = True
        trainer.model.to(memory_format=torch.channels_last)
    trainer.train_epoch()  # warm-up: allocations, cuDNN autotuning
    _sync(trainer.device)
    sampler = GpuSampler() if gpu_util else None
    start = time.perf_counter()
    trainer.train_epoch()
    _sync(trainer.device)
    seconds = time.perf_counter() - start
    util = sampler.stop() if sampler else float("nan")
    rate = len(data) // config.batch_size * config.batch_size / seconds
    embed_rate = bench_embed(trainer, data)
    return rate, embed_rate, util


def bench_embed(trainer: Trainer, data: MapsData) -> float:
    kwargs = {
        "device": trainer.device,
        "batch_size": trainer.config.batch_size,
        "amp_dtype": trainer.amp_dtype,
        "channels_last": trainer.channels_last,
    }
    embed_arrays(trainer.model, data.maps[: trainer.config.batch_size], **kwargs)
    _sync(trainer.device)
    start = time.perf_counter()
    embed_arrays(trainer.model, data.maps, **kwargs)
    _sync(trainer.device)
    return len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=None, help="cpu 32, cuda 256")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (cpu 4, cuda 40)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device here")
    torch.set_num_threads(args.threads)
    batch = args.batch_size or (256 if cuda else 32)
    steps = args.steps or (40 if cuda else 4)
    data = _data(batch * steps, args.size, people=max(2, batch * steps // 8))
    base = TrainConfig(modality="normal", size=args.size, batch_size=batch, epochs=2)
    name = torch.cuda.get_device_name() if cuda else _cpu_name()
    print(f"iResNet-18, {args.size} px, normal maps, MagFace; batch {batch}, {steps} timed steps")
    print(f"device: {args.device} ({name}), torch {torch.__version__}, threads {args.threads}")
    if cuda:
        runs = [
            ("fp32", base.replace(amp=False, channels_last=False), False),
            ("amp+channels_last", base.replace(amp=True, channels_last=True), True),
        ]
    else:
        runs = [
            ("fp32", base.replace(amp=False, channels_last=False), False),
            ("fp32 channels_last", base.replace(amp=False, channels_last=False), True),
        ]
    results = {}
    for label, config, flag in runs:
        rate, embed_rate, util = bench_train(
            config, data, args.device, channels_last_cpu=flag and not cuda, gpu_util=cuda and flag
        )
        results[label] = (rate, embed_rate)
        extra = f", GPU utilisation {util:.0f}%" if cuda and flag else ""
        print(f"{label:>20}: train {rate:8.1f} img/s   embed {embed_rate:8.1f} img/s{extra}")
    (a, b) = list(results.values())
    print(f"ratio (second / first): train {b[0] / a[0]:.2f}x, embed {b[1] / a[1]:.2f}x")


if __name__ == "__main__":
    main()
