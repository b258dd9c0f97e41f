"""report: document renderers, atomic files, the kind registry, rebuilding from saved results."""

import json

import pandas as pd
import pytest

from scalesearch.errors import UserError
from scalesearch.report import plots, registry
from scalesearch.report.document import Report
from scalesearch.files import write_atomic, write_json
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, read_run_info
from scalesearch.report.html import render_html
from scalesearch.report.markdown import render_markdown


def _report() -> Report:
    png = plots.lines([0, 1, 2], {"nominal": [1, 2, 4], "measured": [1, 2.2, 4.1]}, title="t",
                      xlabel="φ", ylabel="GFLOPs", log_y=True)
    frame = pd.DataFrame({"φ": [0, 1], "name": ["a|b", "<c>"], "params": ["1,000", "2,000"]})
    return (Report("A & B").paragraph("see `family.json`").table(frame, "cap")
            .figure("cost", png, "FLOPs per φ"))


def test_markdown_has_tables_and_linked_pngs():
    text, images = render_markdown(_report())
    assert text.startswith("# A & B")
    assert "| φ | name | params |" in text and "| ---: | --- | ---: |" in text and "a\\|b" in text
    assert "![FLOPs per φ](figures/cost.png)" in text
    assert images["figures/cost.png"].startswith(b"\x89PNG")


def test_html_is_self_contained_and_escaped():
    page = render_html(_report())
    assert "data:image/png;base64," in page and "<code>family.json</code>" in page
    assert "&lt;c&gt;" in page and "A &amp; B" in page and 'class="num"' in page
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened offline


def test_write_atomic_leaves_no_temporary_files(tmp_path):
    write_atomic(tmp_path / "a" / "x.txt", "one")
    write_json(tmp_path / "a" / "x.json", {"v": float("nan")})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.json", "x.txt"]
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"v": None}


def test_run_info_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        read_run_info(tmp_path / "missing")
    with pytest.raises(UserError, match="no run.json"):
        read_run_info(tmp_path)
    claim_run_dir(tmp_path, RunInfo("mystery", "b", "s", {}, "x.json"))
    with pytest.raises(UserError, match="no report builder for run kind 'mystery'; known: .*expand"):
        registry.rebuild(tmp_path)


def test_register_is_one_line_and_duplicates_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BUILDERS", dict(registry.BUILDERS))
    registry.register("toy", lambda run_dir, info: Report(f"toy {info['request']['n']}").paragraph("hi"))
    claim_run_dir(tmp_path, RunInfo("toy", "b", "s", {"n": 3}, "x.json"))
    files = registry.rebuild(tmp_path)
    assert "# toy 3" in files["markdown"].read_text() and files["html"].is_file()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("toy", lambda run_dir, info: Report("other"))


def _family_json(trained: bool) -> dict:
    members = []
    for phi, (params, flops, px) in enumerate([(5_288_548, 385_814_752, 224), (7_794_184, 686_802_832, 240)]):
        member = {"phi": phi, "name": f"b{phi}", "depth": 1 + 0.1 * phi, "width": 1.0, "nominal_width": 1.0,
                  "resolution_mult": px / 224, "resolution": px, "nominal_resolution": px, "dropout": 0.2,
                  "blocks": 16, "params": params, "flops": flops, "activations": 1, "fvcore_total": flops,
                  "flops_ratio": flops / 385_814_752, "nominal_ratio": (1 + 0.1 * phi) * (px / 224) ** 2,
                  "target_ratio": 1.92 ** phi, "t": None, "ratio_error": 0.0, "adjusted": False, "adjustment": "", "spec_file": f"member-phi{phi}.yaml"}
        if trained:
            member.update(val_accuracy=0.5 + 0.1 * phi, test_accuracy=0.4 + 0.1 * phi, proxy_resolution=32)
        members.append(member)
    return {"baseline": "efficientnet-b0", "coefficient_source": "preset paper", "exact_flops": False,
            "coefficients": {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}, "product": 1.92,
            "exact_tolerance": 0.03, "shape": {"base_resolution": 224}, "base_flops": 385_814_752,
            "training": {"data": "synthetic", "budget": {"epochs": 1, "train_images": 64}} if trained else None,
            "members": members}


@pytest.mark.parametrize("trained", [False, True])
def test_expand_report_rebuilds_from_saved_files_only(tmp_path, monkeypatch, trained):
    import scalesearch.costs.cost as measure

    def forbidden(*args, **kwargs):
        raise AssertionError("the report must not measure anything")

    monkeypatch.setattr(measure, "measure_model", forbidden)
    monkeypatch.setattr(measure, "complexity", forbidden)
    write_json(tmp_path / "family.json", _family_json(trained))
    claim_run_dir(tmp_path, RunInfo("expand", "b", "s", {}, "family.json", command="scalesearch expand ..."))
    files = registry.rebuild(tmp_path)
    text = files["markdown"].read_text()
    assert "7,794,184" in text and "figures/flops-per-phi.png" in text
    assert ("accuracy-vs-flops" in text) == trained
    assert (tmp_path / "figures" / "params-per-phi.png").is_file()
    assert "data:image/png;base64," in files["html"].read_text()


def test_panels_draw_one_panel_per_series_with_a_dashed_reference():
    """The compare report's Figure-3-style plot: a panel per method, compound repeated dashed."""
    points = {"width": [(0.3, 70.0, 1.0, "1×"), (0.6, 74.0, 0.5, "w=1.45")],
              "compound": [(0.3, 70.0, 1.0, "1×"), (0.6, 75.0, 0.0, "d=1.1 w=1.05 r=1.08")]}
    png = plots.panels(points, title="t", xlabel="GFLOPs", ylabel="%", reference="compound")
    assert png.startswith(b"\x89PNG")
    assert plots.panels({"depth": points["width"]}, title="t", xlabel="x", ylabel="y").startswith(b"\x89PNG")
