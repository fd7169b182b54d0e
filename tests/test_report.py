"""The HTML report, the plots and the commands that make them: self-contained, well-formed
HTML that a real headless Chromium renders; figures as PNG and SVG files; sweeps whose
optimal traffic never grows with the buffer; one-line errors with nothing written."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from onnx_models import small_network

import polyscan as ps
from polyscan.cli import main

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    path.write_bytes(small_network().SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def report(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    (folder / "plots").mkdir()
    argv = ["report", model, "--buffer", "2K", "--sweep", "1K,2K,4K", "--out",
            str(folder / "report.html"), "--plots", str(folder / "plots"), "--json",
            str(folder / "report.json"), "--quiet"]
    assert main(argv) == 0
    return folder


class _Balance(HTMLParser):
    """Checks that every opened element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_the_report_is_well_formed_and_self_contained(report):
    text = (report / "report.html").read_text()
    checker = _Balance()
    checker.feed(text)
    assert checker.errors == [] and checker.stack == []
    assert checker.tags.count("svg") == 5 and checker.tags.count("table") == 3
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        ElementTree.fromstring(svg)  # each figure is valid XML
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", text)
    assert [link for link in links if not link.startswith("#")] == []
    assert "<script" not in text and "@import" not in text
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page
    assert "Scan + fusion" in text and "lex, no fusion" in text and "67%" in text


def test_the_report_figures_agree_with_the_api(report, model):
    data = json.loads((report / "report.json").read_text())
    assert list(data["configurations"]) == ["lex, no fusion", "Scan, no fusion", "lex, fusion",
                                            "Scan + fusion"]
    net = ps.load_onnx(model)
    fused = ps.optimize_network(net, 2048, progress=False)
    assert data["configurations"]["Scan + fusion"]["totals"]["dram_entries"] == fused.total
    assert f"{fused.total:,}" in (report / "report.html").read_text()
    assert [p["buffer"] for p in data["sweep"]] == [1024, 2048, 4096]


def test_plots_are_written_as_png_and_svg(report):
    files = sorted(p.name for p in (report / "plots").iterdir())
    stems = {"traffic", "traversals", "groups", "energy", "sweep"}
    assert files == sorted(f"{s}.{k}" for s in stems for k in ("png", "svg"))
    for stem in stems:
        assert (report / "plots" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ElementTree.parse(report / "plots" / f"{stem}.svg")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium here")
def test_the_report_renders_in_headless_chromium(report):
    page = (report / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0
    assert dom.stdout.count("<svg") == 5 and "Scan + fusion" in dom.stdout
    shot = report / "shot.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,2400", f"--screenshot={shot}", page],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


def test_sweep_traffic_never_grows_with_the_buffer(model, tmp_path, capsys):
    out, plot = tmp_path / "sweep.json", tmp_path / "sweep.svg"
    assert main(["sweep", model, "--buffers", "512,1K,2K,8K", "--json", str(out), "--plot",
                 str(plot), "--quiet"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    rows = json.loads(out.read_text())["sweep"]
    totals = [row["dram_entries"] for row in rows]
    assert totals == sorted(totals, reverse=True)
    assert all(row["dram_entries"] <= row["baseline_dram_entries"] for row in rows)
    assert all(row["dram_entries"] >= row["floor"] for row in rows)
    ElementTree.parse(plot)


def test_compare_orders_draws_the_orders(tmp_path, capsys):
    plot = tmp_path / "orders.png"
    assert main(["compare-orders", "mobilenet_v2", "--layer", "b2_dw", "--buffer", "4K",
                 "--plot", str(plot), "--quiet"]) == 0
    assert "best scan" in capsys.readouterr().out
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["sweep", "mobilenet_v2"], "--buffers"),
    (["sweep", "mobilenet_v2", "--buffers", "1K,zz"], "buffer size"),
    (["sweep", "mobilenet_v2", "--buffers", "64K", "--plot", "x.gif"], ".png or .svg"),
    (["report", "mobilenet_v2", "--buffer", "64K", "--out", "r.html", "--plots", "none"],
     "no such folder"),
    (["report", "mobilenet_v2", "--buffer", "64K", "--out", "no/r.html"], "no folder"),
    (["optimize", "mobilenet_v2", "--buffer", "64K", "--objective", "joy"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_writes_nothing(argv, message, capsys, tmp_path,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_energy_report_also_compares_with_the_least_traffic_baseline(model):
    from polyscan.outputs.report import build_report

    net = ps.load_onnx(model)
    built = build_report(net, 2048, objective="energy", progress=False)
    text = built.html()
    reference = ps.optimize_network(net, 2048, fusion=False, traversals=("lex",),
                                    progress=False)
    assert built.reference.total == reference.total
    assert "lex, no fusion, least traffic" in text and "the seed paper's baseline" in text
    assert built.optimized.dram_cost().energy_pj <= reference.dram_cost().energy_pj
