"""Training throughput: scalesearch's proxy loop against the plain PyTorch loop a user would write.

All sides train the same network (same spec, same initial weights) on the same data at
the same resolution and batch size, with the same optimizer, in one run:

- plain: the usual first attempt — a torch Dataset resizing one image at a time, a
  DataLoader, NCHW tensors, eager mode;
- fixed: scalesearch's loop with the choices it had fixed before measuring (channels_last
  always, no cropped kernel taps);
- measured: scalesearch's loop as it runs now (memory format measured per network and
  machine, cropped taps on small maps).

Each side is run both as one process with every core and as one single-thread process
per core at once (images/s added up), and is credited with the faster: each at its best
layout.  Also printed: the effective FLOP/s (3 x multiply-adds x 2 x images/s) as a
fraction of a 2048^2 fp32 matmul measured in the same run, and the share of a step the
data path (gather, crop, flip, normalise) takes.

    python benchmarks/train_throughput.py                          # b0, mobilenetv2, resnet18 at 32 px
    python benchmarks/train_throughput.py --baselines resnet50 --resolution 128 --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from scalesearch.costs.variant import Variant
from scalesearch.blocks import layers as blocks
from scalesearch.spec.spaces import load_space
from scalesearch.training.batches import augment, draw_augmentation, normalize, resized
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.data import load_data
from scalesearch.device import available_cores
from scalesearch.training.loop import train_model
from scalesearch.machine import cpu_identity


class ResizingDataset(Dataset):
    """One image at a time: uint8 -> float, resize, normalise (what tutorials do)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, resolution: int, mean: float, std: float):
        self.x, self.y, self.resolution, self.mean, self.std = x, y, resolution, mean, std

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        image = self.x[i].float().div(255).unsqueeze(0)
        image = F.interpolate(image, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=True)[0]
        if torch.rand(()) < 0.5:
            image = image.flip(2)
        return (image - self.mean) / self.std, self.y[i]


def plain_loop(model, data, resolution: int, batch_size: int, steps: int, device: torch.device, *,
               bf16: bool = False, channels_last: bool = False, compiled: bool = False, workers: int = 0,
               warmup: int = 0) -> float:
    """Images per second of a plain DataLoader loop over `steps` steps after `warmup` untimed ones.

    As a tutorial writes it by default (NCHW, fp32, eager, no loader workers); the keywords
    are the improvements a GPU user reaches for first: bf16 autocast, channels_last,
    torch.compile, loader workers."""
    dataset = ResizingDataset(data.train_x, data.train_y, resolution, data.mean[0], data.std[0])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        pin_memory=device.type == "cuda", num_workers=workers, persistent_workers=workers > 0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    forward = torch.compile(model) if compiled else model
    precision = (torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext())
    done, start = 0, time.perf_counter()
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            x = x.to(device, non_blocking=True, memory_format=memory_format)
            y = y.to(device, non_blocking=True)
            with precision:
                loss = F.cross_entropy(forward(x), y, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == warmup + steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def one_side(args: dict) -> float:
    """Images/s of one side in this process (a worker of `layout_rate`, or directly)."""
    torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    images = args["steps"] * args["batch_size"]
    data = load_data(args["data"], args["data_dir"], train_images=images, val_images=500, test_images=500)
    variant = Variant(load_space(args["baseline"])).at_proxy(args["resolution"], data.in_channels, data.num_classes)
    if args["side"] in ("plain", "fixed"):  # a plain convolution, as a user's (or our old) model has
        blocks.SameConv2d.forward = torch.nn.Conv2d.forward
    model = variant.build(0)
    if args["side"] == "plain":
        return plain_loop(model, data, variant.resolution, args["batch_size"], args["steps"], device)
    budget = ProxyBudget(epochs=1, train_images=images, batch_size=args["batch_size"], val_images=500)
    layout = "channels_last" if args["side"] == "fixed" else "auto"
    return train_model(model, data, variant.resolution, budget, device=device, threads=args["threads"],
                       layout=layout, evaluate_test=False).images_per_second


def _worker(args: dict, start, results) -> None:
    one_side({**args, "steps": 2})  # warm-up: imports, data, the layout cache
    start.wait()
    results.put(one_side(args))


def layout_rate(args: dict, workers: int, threads: int) -> float:
    """Images/s in all of `workers` processes running one side at once, `threads` each."""
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(workers)
    children = [context.Process(target=_worker, args=({**args, "threads": threads}, start, results))
                for _ in range(workers)]
    for child in children:
        child.start()
    total = sum(results.get(timeout=900) for _ in children)
    for child in children:
        child.join()
    return total


def matmul_flops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n x n fp32 matmul (2 n^3 per product): the machine's practical ceiling."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def data_path_share(baseline: str, resolution: int, batch_size: int, data_name: str, data_dir) -> float:
    """Seconds of the data path per batch / seconds of one training step (fixed choices)."""
    data = load_data(data_name, data_dir, train_images=batch_size * 8, val_images=500, test_images=500)
    variant = Variant(load_space(baseline)).at_proxy(resolution, data.in_channels, data.num_classes)
    split = resized(data, variant.resolution)
    generator = torch.Generator().manual_seed(0)
    pad = round(0.125 * variant.resolution)
    model = variant.build(0).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data_s = step_s = 0.0
    for i in range(6):
        start = time.perf_counter()
        index = torch.randperm(len(split.train_y), generator=generator)[:batch_size]
        x = augment(split.train_x[index], draw_augmentation(batch_size, generator, split.hflip), pad)
        x = normalize(x, split.mean, split.std)
        middle = time.perf_counter()
        F.cross_entropy(model(x), split.train_y[index]).backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= 2:
            data_s += middle - start
            step_s += time.perf_counter() - start
    return data_s / step_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baselines", default="efficientnet-b0,mobilenetv2,resnet18")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=16, help="training steps per measurement")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args()

    device = torch.device(args.device)
    cores = available_cores()
    layouts = [1] if device.type == "cuda" or cores == 1 else [1, cores]
    plain_layouts = [(1, cores), (1, 1), *([(cores, 1)] if cores > 1 and device.type == "cpu" else [])]
    peak = matmul_flops(device)
    cpu = cpu_identity()
    report = {"cpu": cpu, "cores": cores, "torch": torch.__version__, "device": str(device),
              "python": platform.python_version(), "load_average": os.getloadavg()[0],
              "matmul_flops": peak, "baselines": {}}
    for baseline in args.baselines.split(","):
        macs = Variant(load_space(baseline)).at_proxy(args.resolution, 1, 10).macs()
        rates: dict[str, dict[str, float]] = {}
        for side in ("plain", "fixed", "measured"):
            common = {"side": side, "baseline": baseline, "resolution": args.resolution, "data": args.data,
                      "data_dir": args.data_dir, "batch_size": args.batch_size, "steps": args.steps,
                      "device": args.device}
            shapes = plain_layouts if side == "plain" else [(w, max(1, cores // w)) for w in layouts]
            rates[side] = {f"{w}x{t}": layout_rate(common, w, t) for w, t in shapes}
        best = {side: max(r.values()) for side, r in rates.items()}
        # The plain loop as a user runs it: one process, at default threads or at 1 (the faster).
        plain_one = max(v for k, v in rates["plain"].items() if k.startswith("1x"))
        effective = 3 * macs * 2 * best["measured"]
        report["baselines"][baseline] = {
            "rates": rates, "best": best, "plain_one_process": plain_one,
            "ratio_vs_plain": best["measured"] / plain_one,
            "ratio_vs_plain_in_as_many_processes": best["measured"] / best["plain"],
            "ratio_fixed_vs_plain": best["fixed"] / plain_one,
            "fraction_of_matmul_peak": effective / peak,
            "data_path_share": data_path_share(baseline, args.resolution, args.batch_size, args.data, args.data_dir)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{cpu.get('model')} ({cpu.get('flags')}), {cores} cores, torch {torch.__version__}, {device}; "
          f"load average {report['load_average']:.1f}; 2048^2 fp32 matmul {peak / 1e9:.0f} GFLOP/s")
    for baseline, r in report["baselines"].items():
        lines = "  ".join(f"{side} " + ", ".join(f"{k} {v:.0f}" for k, v in r["rates"][side].items())
                          for side in r["rates"])
        print(f"{baseline} @ {args.resolution}px, batch {args.batch_size} (img/s; workers x threads): {lines}")
        print(f"  best: plain {r['plain_one_process']:.0f} in one process ({r['best']['plain']:.0f} in "
              f"{cores} processes), fixed {r['best']['fixed']:.0f}, measured {r['best']['measured']:.0f} img/s "
              f"-> {r['ratio_vs_plain']:.2f}x the plain loop ({r['ratio_vs_plain_in_as_many_processes']:.2f}x "
              f"if it too ran {cores} processes; fixed choices {r['ratio_fixed_vs_plain']:.2f}x); "
              f"{r['fraction_of_matmul_peak']:.0%} of matmul peak; data path {r['data_path_share']:.1%} of a step")


if __name__ == "__main__":
    main()
