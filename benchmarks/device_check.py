"""The device check: one prepared run that shows scalesearch works on a CUDA GPU, and how fast.

    bash benchmarks/device_check.sh --out runs/device-check    # set up, then every step on the GPU
    python benchmarks/device_check.py --dry-run --out DIR       # the same steps on the CPU at toy sizes

A GPU is often lent for minutes, with minutes of start-up, so everything runs in one go
and in priority order, and `summary.json` / `summary.md` are rewritten after every step:
a run cut short still leaves what it measured.  Each step is recorded as ok, failed
(with the error's last lines) or skipped (with why); the exit code is 1 if any failed.

1. the machine: GPU, compute capability, CUDA, driver, torch, CPU;
2. the tests marked `cuda` (tests/test_cuda.py; they skip where there is no GPU);
3. proxy-training throughput of efficientnet-b0, mobilenetv2 and resnet18 at 32 px, batch
   128, on Fashion-MNIST: scalesearch's loop as it runs (its step replayed as a CUDA graph)
   and with graphs off, against the plain PyTorch loop on the same GPU
   (benchmarks/train_throughput.py's), each at its best: the plain loop as a tutorial
   writes it, with bf16 autocast + channels_last + 8 loader workers, and that compiled by
   torch.compile while time allows (its compile time is reported: a grid pays it per
   unit, since every point is a new shape);
4. a tiny `grid` and `compare` on CUDA with 2 seeds, through the CLI;
5. `profile --latency --device cuda` at batch 1 and 64.

`--dry-run` runs steps 1, 3, 4 and 5 on the CPU with toy sizes and collects (does not
run) the cuda tests: the test suite runs it so this script cannot rot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_throughput's plain loop

from scalesearch.machine import cpu_identity, gpu_identity  # noqa: E402
from scalesearch.costs.variant import Variant  # noqa: E402
from scalesearch.spec.spaces import load_space  # noqa: E402
from scalesearch.training.budget import ProxyBudget  # noqa: E402
from scalesearch.training.data import load_data  # noqa: E402
from scalesearch.training.loop import train_model  # noqa: E402
from train_throughput import plain_loop  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NETWORKS = ("efficientnet-b0", "mobilenetv2", "resnet18")
TARGETS = {"efficientnet-b0": {"images_per_second": 20_000, "ratio_vs_plain": 3.0}}  # the cuda issue's bar


class Check:
    """The summary being built: steps in order, each rewritten to disk as soon as it ends."""

    def __init__(self, out: Path, dry_run: bool, deadline: float):
        self.out, self.dry_run, self.deadline = out, dry_run, deadline
        self.started = time.perf_counter()
        self.summary: dict[str, Any] = {"dry_run": dry_run, "steps": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - (time.perf_counter() - self.started)

    def step(self, name: str, run: Callable[[], Any], needs: float = 0.0) -> Any:
        """Run one step; record its result, status and seconds; never raise."""
        print(f"[{time.perf_counter() - self.started:6.1f}s] {name} ...", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        if self.left() < needs:
            record = {"status": "skipped", "why": f"{self.left():.0f} s left of the deadline, needs ~{needs:.0f}"}
        else:
            try:
                record = {"status": "ok", "result": run()}
            except Exception as error:  # noqa: BLE001 -- a failed step is recorded, the next one still runs
                record = {"status": "failed", "error": "".join(traceback.format_exception(error))[-3000:]}
        record["seconds"] = round(time.perf_counter() - begun, 1)
        self.summary["steps"][name] = record
        self.write()
        return record.get("result")

    def write(self) -> None:
        self.summary["seconds"] = round(time.perf_counter() - self.started, 1)
        for name, text in (("summary.json", json.dumps(self.summary, indent=2, default=str)),
                           ("summary.md", markdown(self.summary))):
            partial = self.out / (name + ".part")
            partial.write_text(text)
            partial.replace(self.out / name)

    @property
    def failed(self) -> list[str]:
        return [name for name, r in self.summary["steps"].items() if r["status"] == "failed"]


# -- the steps -------------------------------------------------------------------------------

def machine(device: torch.device) -> dict[str, Any]:
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "cpu": cpu_identity(), "cores": os.cpu_count(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=gpu_identity(str(device)), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, driver=_driver())
    return info


def _driver() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cuda_tests(dry_run: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    if dry_run:
        command.insert(-1, "--collect-only")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    tail = done.stdout.strip().splitlines()[-1:] or [""]
    if done.returncode not in (0, 5) or "failed" in tail[0] or "error" in tail[0]:
        raise RuntimeError(f"pytest -m cuda exited {done.returncode}:\n{done.stdout[-2500:]}\n{done.stderr[-500:]}")
    return {"outcome": tail[0], "exit_code": done.returncode}


def throughput(baseline: str, device: torch.device, steps: int, batch: int, check: Check,
               data_dir: str | None) -> dict[str, Any]:
    """Images/s of scalesearch's loop (graphs on, off) and the plain loop's variants (module docstring)."""
    data = load_data("fashion-mnist", data_dir, train_images=(steps + 8) * batch, val_images=500, test_images=500)
    variant = Variant(load_space(baseline)).at_proxy(32, data.in_channels, data.num_classes)
    budget = ProxyBudget(epochs=1, train_images=steps * batch, batch_size=batch, val_images=500)

    def ours(graphs: bool) -> dict[str, Any]:
        runs = [train_model(variant.build(0), data, variant.resolution, budget, device=device, graphs=graphs,
                            evaluate_test=False, validate_each_epoch=False) for _ in range(2)]
        best = max(runs, key=lambda r: r.images_per_second)  # the first also pays cuDNN's autotuning
        return {"images_per_second": best.images_per_second, "step": best.step, "step_note": best.step_note,
                "layout": best.layout, "layout_rates": best.layout_rates}

    result: dict[str, Any] = {"ours": ours(True), "ours_eager": ours(False), "plain": {}}
    # one unit of the space's own proxy budget, as a grid trains it (a toy budget in a dry run)
    unit_budget = ProxyBudget.for_space(load_space(baseline).proxy,
                                        **({"epochs": 1, "train_images": 256} if check.dry_run else {}))
    unit = train_model(variant.build(0), load_data("fashion-mnist", data_dir, train_images=unit_budget.train_images,
                                                   val_images=unit_budget.val_images),
                       variant.resolution, unit_budget, device=device, validate_each_epoch=False)
    result["default_unit"] = {"seconds": unit.seconds, "val_accuracy": unit.val_accuracy,
                              "budget": unit_budget.as_dict(), "step": unit.step}
    workers = 0 if check.dry_run else min(8, os.cpu_count() or 1)
    plain = {"tutorial (fp32, NCHW, no workers)": {},
             f"bf16 + channels_last + {workers} workers": {"bf16": True, "channels_last": True, "workers": workers}}
    for name, options in plain.items():
        result["plain"][name] = plain_loop(variant.build(0), data, variant.resolution, batch, steps, device,
                                           warmup=5, **options)
    compiled = f"bf16 + channels_last + {workers} workers + torch.compile"
    if check.dry_run or check.left() < 150:
        result["plain"][compiled] = None
        result["compile_skipped"] = "dry run" if check.dry_run else f"{check.left():.0f} s left of the deadline"
    else:
        begun = time.perf_counter()
        result["plain"][compiled] = plain_loop(variant.build(0), data, variant.resolution, batch, steps, device,
                                               warmup=5, bf16=True, channels_last=True, compiled=True, workers=workers)
        result["compile_seconds_with_warmup"] = time.perf_counter() - begun
    best_plain = max(v for v in result["plain"].values() if v)
    result["plain_best"] = best_plain
    result["ratio_vs_plain"] = result["ours"]["images_per_second"] / best_plain
    result["graph_speedup"] = result["ours"]["images_per_second"] / result["ours_eager"]["images_per_second"]
    for key, bar in TARGETS.get(baseline, {}).items():
        value = result["ours"]["images_per_second"] if key == "images_per_second" else result[key]
        result.setdefault("targets", {})[key] = {"bar": bar, "value": value, "met": value >= bar}
    return result


def cli(*args: str, timeout: float = 600) -> dict[str, Any]:
    """`scalesearch ARGS --format json` in a subprocess; its JSON document."""
    command = [sys.executable, "-m", "scalesearch", *args, "--format", "json"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2500:]}")
    return json.loads(done.stdout)


def _one_process(dry_run: bool) -> list[str]:
    """On the CPU: one worker, so a toy run does not spend its time measuring workers x threads."""
    return ["--workers", "1"] if dry_run else []


def tiny_grid(out: Path, device: str, data_dir: str | None, dry_run: bool) -> dict[str, Any]:
    images = "256" if dry_run else "2048"
    data = ["--data-dir", data_dir] if data_dir else []
    summary = cli("grid", "-b", "resnet18", "--step", "0.2" if not dry_run else "0.4", "--epochs", "1",
                  "--train-images", images, "--val-images", "500", "--test-images", "500", "--resolution", "32",
                  "--seeds", "2", "--device", device, "--out", str(out / "grid"), *data, *_one_process(dry_run))
    return {"summary": summary}


def tiny_compare(out: Path, device: str, data_dir: str | None, dry_run: bool) -> dict[str, Any]:
    images = "256" if dry_run else "2048"
    data = ["--data-dir", data_dir] if data_dir else []
    methods = ["--methods", "width,compound"] if dry_run else []
    rows = cli("compare", "-b", "resnet18", "--target", "2x", *methods, "--epochs", "1", "--train-images", images,
               "--val-images", "500", "--test-images", "500", "--seeds", "2", "--device", device,
               "--out", str(out / "compare"), *data, *_one_process(dry_run))
    return {"rows": rows}


def latency(device: str, dry_run: bool) -> dict[str, Any]:
    batches = ("1", "4") if dry_run else ("1", "64")
    return {f"{baseline} batch {batch}": cli("profile", "-b", baseline, "--latency", "--device", device,
                                             "--latency-batch", batch)
            for baseline in (("resnet18",) if dry_run else NETWORKS) for batch in batches}


# -- the report ------------------------------------------------------------------------------

def markdown(summary: dict[str, Any]) -> str:
    steps = summary["steps"]
    lines = [f"# scalesearch device check{' (dry run, CPU)' if summary['dry_run'] else ''}", ""]
    info = (steps.get("machine") or {}).get("result") or {}
    if info:
        lines += [f"{info.get('gpu') or 'no GPU'}; driver {info.get('driver', '-')}; torch {info.get('torch')} "
                  f"(CUDA {info.get('cuda')}); CPU {info['cpu'].get('model')} × {info.get('cores')}.", ""]
    lines += ["| step | status | seconds | |", "|---|---|---|---|"]
    for name, r in steps.items():
        note = r.get("why") or (r.get("error", "").strip().splitlines() or [""])[-1][:120]
        lines.append(f"| {name} | {r['status']} | {r['seconds']} | {note} |")
    rows = [(name.removeprefix("throughput "), r["result"]) for name, r in steps.items()
            if name.startswith("throughput ") and r["status"] == "ok"]
    if rows:
        lines += ["", "Proxy training at 32 px, batch 128, Fashion-MNIST (images/s):", "",
                  "| network | scalesearch (CUDA graph) | scalesearch eager | plain: tutorial | plain: bf16+CL+workers "
                  "| plain: + torch.compile | × best plain | default proxy unit (s) |", "|---|---|---|---|---|---|---|---|"]
        for name, r in rows:
            plain = list(r["plain"].values())
            cells = " | ".join("—" if v is None else f"{v:,.0f}" for v in plain)
            lines.append(f"| {name} | {r['ours']['images_per_second']:,.0f} ({r['ours']['step']}) | "
                         f"{r['ours_eager']['images_per_second']:,.0f} | {cells} | {r['ratio_vs_plain']:.2f}× | "
                         f"{r['default_unit']['seconds']:.1f} |")
    timed = (steps.get("latency") or {}).get("result") or {}
    if timed:
        lines += ["", "Latency (`profile --latency`), median ± interquartile spread:", ""]
        lines += [f"- {name}: {r['latency_ms']:.3f} ms ± {r['latency_spread']:.1%} ({r['latency_format']})"
                  for name, r in timed.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/device-check"))
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, cuda tests collected only")
    parser.add_argument("--deadline", type=float, default=420.0,
                        help="seconds: later optional work (torch.compile) is skipped past it")
    parser.add_argument("--steps", type=int, default=None, help="training steps per throughput figure")
    parser.add_argument("--data-dir", default=None, help="where Fashion-MNIST's .gz files are")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        print("device_check: no CUDA device here; use --dry-run to check the script on the CPU", file=sys.stderr)
        return 1
    device = torch.device("cpu" if args.dry_run else "cuda")
    steps = args.steps or (3 if args.dry_run else 200)
    batch = 16 if args.dry_run else 128
    check = Check(args.out, args.dry_run, args.deadline)
    check.step("machine", lambda: machine(device))
    check.step("cuda tests", lambda: cuda_tests(args.dry_run))
    for baseline in (("resnet18",) if args.dry_run else NETWORKS):
        check.step(f"throughput {baseline}", lambda b=baseline: throughput(b, device, steps, batch, check, args.data_dir))
    check.step("grid", lambda: tiny_grid(args.out, device.type, args.data_dir, args.dry_run), needs=20)
    check.step("compare", lambda: tiny_compare(args.out, device.type, args.data_dir, args.dry_run), needs=20)
    check.step("latency", lambda: latency(device.type, args.dry_run), needs=10)
    print(markdown(check.summary))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
