"""The expand run directory's results: what a family's report and users read back.

Layout of `--out DIR`:
    run.json             what made this directory (runs/run_dir.py)
    family.json          coefficients, shape, and one record per member (the source of truth)
    family.csv           the member records as a flat table (spreadsheets, pandas)
    member-phi{p}.yaml   each member as a search space: its NetSpec at the deployment shape
                         and the baseline's proxy recipe at the member's proxy resolution
                         (the baseline's proxy px x r), so `train --baseline` on the file
                         trains what `expand --train` trained
    report.md, figures/  Markdown report and its PNG plots (report/expand.py)
    report.html          the same report, self-contained
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from scalesearch.files import write_atomic, write_json
from scalesearch.spec.phis import phi_label

_CSV_SKIP = ("stages",)


def member_file(phi: float) -> str:
    return f"member-phi{phi_label(phi)}.yaml"


def member_yaml(space: Any, member: Any) -> str:
    """The member as a space file: its NetSpec, and the baseline's proxy at the member's
    own proxy px (a bare NetSpec would train at the default 32 px whatever its r)."""
    proxy_px = member.variant.at_proxy(space.proxy_resolution, 3, 1000).resolution
    return yaml.safe_dump({"network": member.spec.to_dict(), "proxy": {**space.proxy, "resolution": proxy_px}},
                          sort_keys=False)


def save_family(family: Any, out_dir: str | Path) -> dict[str, Any]:
    """Write every result file of `family` (a family.Family), not the report; returns
    family.json's dict."""
    out = Path(out_dir)
    payload = family.as_dict()
    for member, record in zip(family.members, payload["members"]):
        if member.spec is None:  # a factory baseline has no spec to save
            record["spec_file"] = None
            continue
        record["spec_file"] = member_file(member.plan.phi)
        header = (f"# {record['name']}: {family.space.name} scaled by scalesearch expand "
                  f"(phi {phi_label(member.plan.phi)}, {family.plan.source})\n"
                  f"# {record['params']:,} params, {record['flops']:,} multiply-adds at "
                  f"{record['resolution']} px; load with --baseline {out / record['spec_file']}\n")
        write_atomic(out / record["spec_file"], header + member_yaml(family.space, member))
    write_json(out / "family.json", payload)
    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in _CSV_SKIP} for r in payload["members"]])
    write_atomic(out / "family.csv", frame.to_csv(index=False))
    return payload


