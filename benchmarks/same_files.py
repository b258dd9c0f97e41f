"""Compare two out dirs of benchmarks/same_files.sh file by file, timings masked.

usage: python benchmarks/same_files.py BEFORE_OUT AFTER_OUT [--details FILE]

Every file under either dir is listed with `same` or `differs (what)`.  Before comparing:
- JSON / JSONL / study.journal / YAML: keys that hold timings or host-, process- and
  time-dependent values are dropped (TIMING_KEYS, by name, at any depth; created/finished/
  started only where they hold a string, as best.json's "finished" is a count); strings have
  the out dir's absolute path replaced by <OUT> and timestamps by <TIME>.  The table names
  the masked keys whose values did differ ("masked, differed: ..."), so what the masking
  hid can be checked to be timings only.
- CSV: the same columns dropped, cells compared as text.
- report.md / report.html / *.log: numbers right after a timing word masked (TIMING_TEXT),
  timestamps and paths masked, base64 images replaced by a hash (compared themselves).
- .pt: torch.load both and compare every tensor exactly (bitwise equality).
- anything else (png): bytes.
Exit 0 when all are the same.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from pathlib import Path

# Keys whose values are timings or depend on the host, the clock or the process.
TIMING_KEYS = re.compile(
    r"^(seconds|.*_seconds|seconds_.*|images_per_second|.*_per_second|latency_ms|latency_spread|"
    r"created|finished|started|.*started|.*finished|datetime_.*|.*_time|time|elapsed|duration|"
    r"worker_id|pid|owner_pid|lease_until|host|hostname|layout_rates|layout_measured|measured|rates)$")
# These name a count or a flag in some records (best.json's "finished": 12): masked only as timestamps.
TIMESTAMP_KEYS = re.compile(r"^(created|finished|started|.*started|.*finished)$")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z)?|\b\d\d:\d\d:\d\d\b")
NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
# In prose: a number followed by a time unit, or a rate.
TIMING_TEXT = [
    re.compile(NUMBER + r"(\s*)(s|sec|seconds|min|minutes|ms|h)\b"),
    re.compile(NUMBER + r"(\s*)(images?/s|img/s)"),
    re.compile(r"\[pid \d+\]"),
]
DATA_URI = re.compile(r"data:image/[a-z]+;base64,([A-Za-z0-9+/=]+)")


class Masker:
    def __init__(self, out: Path, mask_keys: bool = True):
        self.mask_keys = mask_keys
        self.paths = [str(out.resolve())]  # absolute only: a relative "after" would hit prose

    def text(self, s: str) -> str:
        for p in self.paths:
            s = s.replace(p, "<OUT>")
        return TIME_RE.sub("<TIME>", s)

    def data(self, value, dropped: set):
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if self.mask_keys and TIMING_KEYS.match(str(k)) and not (TIMESTAMP_KEYS.match(str(k)) and not isinstance(v, str)):
                    dropped.add(str(k))
                    continue
                out[k] = self.data(v, dropped)
            return out
        if isinstance(value, list):
            return [self.data(v, dropped) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def prose(self, s: str) -> str:
        s = self.text(s)
        s = DATA_URI.sub(lambda m: "data:image;sha1=" + hashlib.sha1(m.group(1).encode()).hexdigest()[:12], s)
        for pattern in TIMING_TEXT:
            s = pattern.sub(lambda m: "<T>" + "".join(g or "" for g in m.groups()), s)
        return s


def diff_paths(a, b, path="") -> list[str]:
    """Where two JSON values differ: 'path: a -> b' lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: only after")
            elif k not in b:
                out.append(f"{path}.{k}: only before")
            else:
                out += diff_paths(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} -> {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff_paths(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)[:120]} -> {json.dumps(b)[:120]}"]


def load_structured(path: Path, masker: Masker, dropped: set):
    name = path.name
    text = path.read_text()
    if name.endswith(".jsonl") or name == "study.journal":
        return [masker.data(json.loads(line), dropped) for line in text.splitlines() if line.strip()]
    if name.endswith(".json"):
        return masker.data(json.loads(text), dropped) if text.strip() else None
    if name.endswith((".yaml", ".yml")):
        import yaml
        return masker.data(yaml.safe_load(text), dropped)
    if name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
        return [masker.data(r, dropped) for r in rows]
    raise ValueError(name)


def compare_tensors(a: Path, b: Path) -> str | None:
    import torch

    def flat(obj, prefix=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from flat(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from flat(v, f"{prefix}[{i}]")
        else:
            yield prefix, obj

    x = dict(flat(torch.load(a, map_location="cpu", weights_only=False)))
    y = dict(flat(torch.load(b, map_location="cpu", weights_only=False)))
    problems = [f"{k}: only in one" for k in sorted(set(x) ^ set(y))]
    tensors = 0
    for k in sorted(set(x) & set(y)):
        u, v = x[k], y[k]
        if isinstance(u, torch.Tensor) and isinstance(v, torch.Tensor):
            tensors += 1
            if u.shape != v.shape or u.dtype != v.dtype or not torch.equal(u, v):
                problems.append(f"{k}: tensor differs")
        elif not TIMING_KEYS.match(k.rsplit(".", 1)[-1]) and u != v:
            problems.append(f"{k}: {u!r} -> {v!r}")
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5})" if len(problems) > 5 else "") if problems \
        else None if tensors else "no tensors"


def compare(before: Path, after: Path, details: list[str]) -> list[tuple[str, str]]:
    mb, ma = Masker(before), Masker(after)
    files = sorted({p.relative_to(before) for p in before.rglob("*") if p.is_file()} |
                   {p.relative_to(after) for p in after.rglob("*") if p.is_file()})
    rows = []
    for rel in files:
        a, b = before / rel, after / rel
        if rel.parts[0] == "logs" and rel.name in ("checkout.txt", "commands.txt"):
            rows.append((str(rel), "skipped (names the checkout / holds wall times)"))
            continue
        if not a.exists() or not b.exists():
            rows.append((str(rel), f"differs (only {'after' if b.exists() else 'before'})"))
            continue
        name = rel.name
        try:
            if name.endswith((".json", ".jsonl", ".csv", ".yaml", ".yml")) or name == "study.journal":
                dropped: set = set()
                x, y = load_structured(a, mb, dropped), load_structured(b, ma, dropped)
                where = diff_paths(x, y)
                # which masked keys actually held different values (what the masking hid)
                raw = diff_paths(load_structured(a, Masker(before, False), set()),
                                 load_structured(b, Masker(after, False), set()))
                hidden = sorted({re.sub(r"\[\d+\]", "", w.split(":")[0]).rsplit(".", 1)[-1] for w in raw} & dropped)
                masked = f" [masked, differed: {', '.join(hidden)}]" if hidden else ""
                if where:
                    details.append(f"== {rel}\n" + "\n".join(where[:60]))
                    rows.append((str(rel), f"differs ({len(where)} values: {where[0][:150]}){masked}"))
                else:
                    rows.append((str(rel), "same" + masked))
            elif name.endswith(".pt"):
                problem = compare_tensors(a, b)
                rows.append((str(rel), "same (every tensor equal)" if problem is None else f"differs ({problem})"))
            elif name.endswith((".md", ".html", ".log", ".txt")):
                x, y = mb.prose(a.read_text()).splitlines(), ma.prose(b.read_text()).splitlines()
                if x == y:
                    same_raw = a.read_bytes() == b.read_bytes()
                    rows.append((str(rel), "same" + ("" if same_raw else " [timings/paths masked]")))
                else:
                    import difflib
                    d = [l for l in difflib.unified_diff(x, y, "before", "after", n=0, lineterm="")]
                    details.append(f"== {rel}\n" + "\n".join(l[:400] for l in d[:80]))
                    changed = sum(1 for l in d if l.startswith("+") and not l.startswith("+++"))
                    rows.append((str(rel), f"differs ({changed} lines)"))
            else:
                same = a.read_bytes() == b.read_bytes()
                rows.append((str(rel), "same (bytes)" if same else
                             f"differs (bytes; sizes {a.stat().st_size} / {b.stat().st_size})"))
        except Exception as error:  # report, keep going
            rows.append((str(rel), f"differs? could not compare: {error!r}"))
    return rows


def main(argv: list[str]) -> int:
    before, after = Path(argv[1]), Path(argv[2])
    details_file = Path(argv[argv.index("--details") + 1]) if "--details" in argv else None
    details: list[str] = []
    rows = compare(before, after, details)
    width = max(len(r[0]) for r in rows)
    print(f"{'file':<{width}}  result")
    for rel, result in rows:
        print(f"{rel:<{width}}  {result}")
    same = sum(r[1].startswith("same") for r in rows)
    differs = sum(r[1].startswith("differs") for r in rows)
    print(f"\n{len(rows)} files: {same} same, {differs} differ, {len(rows) - same - differs} skipped")
    if details_file:
        details_file.write_text("\n\n".join(details) + "\n")
    return 0 if differs == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
