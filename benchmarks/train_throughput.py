"""Training throughput: scalesearch's proxy loop against the plain PyTorch loop a user would write.

Both train the same network (same spec, same initial weights) on the same data at the
same resolution and batch size, with the same optimizer.  The plain loop is the usual
first attempt: a torch Dataset resizing one image at a time, a DataLoader, NCHW tensors,
eager mode, torch's default thread count.  The project's loop is `train_model`: data
resized once and kept in memory, batched augmentation, channels_last, threads set from
the cores this process may use.  One run prints both throughputs, their ratio, and the
effective FLOP/s (3 x multiply-adds x 2 x images/s: forward + backward ~ 3 forwards)
as a fraction of a large fp32 matmul's FLOP/s measured in the same run.

    python benchmarks/train_throughput.py                          # B0, 32 px, Fashion-MNIST
    python benchmarks/train_throughput.py --baseline resnet50 --resolution 128 \
        --batch-size 256 --steps 50 --device cuda                  # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from scalesearch.training.data import load_data
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.device import available_cores
from scalesearch.training.loop import train_model
from scalesearch.measure.variant import Variant


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


def plain_loop(model, data, resolution: int, batch_size: int, steps: int, device: torch.device) -> float:
    """Images per second of a plain DataLoader loop (NCHW, eager, default threads)."""
    dataset = ResizingDataset(data.train_x, data.train_y, resolution, data.mean[0], data.std[0])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        pin_memory=device.type == "cuda")
    model = model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    done, start = 0, time.perf_counter()
    while done < steps:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="efficientnet-b0")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=16, help="training steps per loop")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for scalesearch's loop (default: the cores available to it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args()

    device = torch.device(args.device)
    images = args.steps * args.batch_size
    data = load_data(args.data, args.data_dir, train_images=images, val_images=500, test_images=500)
    variant = Variant(load_space(args.baseline)).at_proxy(args.resolution, data.in_channels, data.num_classes)
    macs = variant.macs()

    torch.manual_seed(0)
    model = variant.build()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    plain = plain_loop(model, data, variant.resolution, args.batch_size, args.steps, device)
    model.load_state_dict(initial)  # the same starting point for the project's loop

    budget = ProxyBudget(epochs=1, train_images=images, batch_size=args.batch_size, val_images=500)
    ours = train_model(model, data, variant.resolution, budget, device=device,
                       threads=args.threads).images_per_second

    peak = matmul_flops(device)
    effective = 3 * macs * 2 * ours
    report = {"baseline": args.baseline, "resolution": variant.resolution, "batch_size": args.batch_size,
              "steps": args.steps, "device": str(device), "cores": available_cores(),
              "load_average": os.getloadavg()[0], "plain_threads": torch.get_num_threads(),
              "scalesearch_threads": args.threads or available_cores(), "multiply_adds_per_image": macs,
              "plain_images_per_second": plain, "scalesearch_images_per_second": ours,
              "ratio": ours / plain, "matmul_flops": peak, "effective_flops": effective,
              "fraction_of_matmul_peak": effective / peak}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.baseline} @ {variant.resolution}px, batch {args.batch_size}, {args.steps} steps on {device} "
          f"(threads: plain {report['plain_threads']}, scalesearch {report['scalesearch_threads']}; "
          f"load average {report['load_average']:.1f} on {report['cores']} cores)")
    print(f"plain loop (DataLoader, per-sample resize, NCHW): {plain:8.1f} img/s")
    print(f"scalesearch train_model:                          {ours:8.1f} img/s")
    print(f"ratio:                                            {ours / plain:8.2f}x")
    print(f"effective {effective / 1e9:.1f} GFLOP/s = {effective / peak:.1%} of a 2048^2 fp32 matmul "
          f"({peak / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
