"""The HTML report, the plots and the commands that make them: self-contained, well-formed
HTML that a real headless Chromium renders; figures as PNG and SVG files; sweeps whose
optimal traffic never grows with the buffer; one-line errors with nothing written."""

import json
import math
import re
import shutil
import subprocess
from html import unescape
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
    assert checker.tags.count("svg") == 6 and checker.tags.count("table") == 4
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        ElementTree.fromstring(svg)  # each figure is valid XML
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", text)
    assert [link for link in links if not link.startswith("#")] == []
    assert "<script" not in text and "@import" not in text
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page
    assert "Scan + fusion" in text and "lex, no fusion" in text


@pytest.fixture(scope="module")
def plans(model):
    """The report's baseline and optimized plans, computed here through the API."""
    net = ps.load_onnx(model)
    return {"lex, no fusion": ps.optimize_network(net, 2048, fusion=False, traversals=("lex",),
                                                  progress=False),
            "Scan + fusion, nothing resident": ps.optimize_network(
                net, 2048, fusion=True, traversals=("lex", "scan"), progress=False,
                resident=False),
            "Scan + fusion": ps.optimize_network(net, 2048, fusion=True,
                                                 traversals=("lex", "scan"), progress=False)}


def _text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: no tags, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def test_the_headline_and_the_table_state_the_api_figures(report, plans):
    """Each figure of the headline and of the configurations table, from plans and DRAM costs
    computed in the test, formatted as the report formats them."""
    page = (report / "report.html").read_text()
    base, best = plans["lex, no fusion"], plans["Scan + fusion"]
    for plan in (base, best):  # the totals are the groups' exact traffic
        assert plan.total == sum(ps.traffic(g.schedule).total for g in plan.groups)
    cost, base_cost = best.dram_cost(), base.dram_cost()
    assert best.total < base.total and cost.energy_pj > 0
    headline = _text(re.search(r'<p class="headline">(.*?)</p>', page, flags=re.S).group(1))
    for figure in [f"Scan + fusion moves {best.total:,} DRAM entries",
                   f"{1 - best.total / base.total:.1%} less than lex without fusion "
                   f"({base.total:,})",
                   f"{best.total / best.floor:.3f} x the floor ({best.floor:,}:",
                   f"DRAM energy {cost.energy_pj / 1e9:.3f} mJ on {cost.preset},",
                   f"{1 - cost.energy_pj / base_cost.energy_pj:.1%} less than the baseline's "
                   f"{base_cost.energy_pj / 1e9:.3f} mJ",
                   f"{cost.energy_pj / best.energy_floor_pj:.2f} x the energy floor "
                   f"({best.energy_floor_pj / 1e9:.3f} mJ"]:
        assert figure in headline, (figure, headline)
    table = re.search(r"<h2>The seed paper's experiment</h2>\s*<table>(.*?)</table>", page,
                      flags=re.S).group(1)
    rows = {cells[0]: cells[1:] for cells in
            ([_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)) if cells}
    for label, plan in plans.items():
        c = plan.dram_cost()
        assert rows[label][:6] == [f"{plan.total:,}", f"{1 - plan.total / base.total:.1%}",
                                   f"{c.energy_pj / 1e9:.3f}",
                                   f"{1 - c.energy_pj / base_cost.energy_pj:.1%}",
                                   f"{c.seconds * 1e3:.3f}", f"{c.row_hit_rate:.3f}"]
        assert rows[label][6] == str(len(plan.groups))
    assert rows["lex, no fusion"][1] == rows["lex, no fusion"][3] == "0.0%"


def test_the_report_figures_agree_with_the_api(report, plans):
    data = json.loads((report / "report.json").read_text())
    assert list(data["configurations"]) == ["lex, no fusion", "Scan, no fusion", "lex, fusion",
                                            "Scan + fusion, nothing resident", "Scan + fusion"]
    fused = plans["Scan + fusion"]
    assert data["configurations"]["Scan + fusion"]["totals"]["dram_entries"] == fused.total
    page = (report / "report.html").read_text()
    assert f"{fused.total:,}" in page
    assert [p["buffer"] for p in data["sweep"]] == [1024, 2048, 4096]
    assert data["configurations"]["Scan + fusion"]["resident"] == list(fused.resident)
    groups = re.search(r"<h2>The optimized plan</h2>.*?<table>(.*?)</table>", page,
                       flags=re.S).group(1)
    assert "<th>resident</th>" in groups
    held = [_text(c) for c in re.findall(r"<td>([^<]*)</td>", groups)]
    assert all(f"{g.held:,}" in held for g in fused.groups if g.resident)


def test_the_time_section_states_the_plans_makespan(report, plans):
    time = plans["Scan + fusion"].time()  # zigzag-like: the report's default
    data = json.loads((report / "report.json").read_text())
    assert data["time"]["cycles"] == time.cycles
    page = (report / "report.html").read_text()
    section = re.search(r"<h2>Time and buffer contents</h2>(.*?)<h2>", page, flags=re.S).group(1)
    assert f"makespan {time.cycles:,} cycles" in _text(section)
    rows = [[_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", section)]
    assert [r[1:3] for r in rows if r] == [[f"{math.ceil(g.cycles):,}", f"{g.compute.cycles:,}"]
                                          for g in time.groups]
    assert "Buffer contents over time on zigzag-like" in section


def test_plots_are_written_as_png_and_svg(report):
    files = sorted(p.name for p in (report / "plots").iterdir())
    stems = {"traffic", "traversals", "groups", "energy", "sweep", "occupancy"}
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
    assert dom.stdout.count("<svg") == 6 and "Scan + fusion" in dom.stdout
    shot = report / "shot.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,2400", f"--screenshot={shot}", page],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


def test_sweep_traffic_never_grows_with_the_buffer(model, tmp_path, capsys):
    out, plot = tmp_path / "sweep.json", tmp_path / "sweep.svg"
    assert main(["sweep", model, "--buffers", "512,1K,2K,8K", "--json", str(out), "--plot",
                 str(plot), "--quiet", "--workers", "0"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    rows = json.loads(out.read_text())["sweep"]
    totals = [row["dram_entries"] for row in rows]
    assert totals == sorted(totals, reverse=True)
    assert all(row["dram_entries"] <= row["compulsory_unfused"] for row in rows)
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


def test_the_report_shows_the_pareto_fronts_of_a_results_table(model, tmp_path, capsys):
    table = tmp_path / "results.csv"
    assert main(["sweep", model, "--buffers", "512,2K,8K", "--dram", "ddr3-1600,lpddr4-3200",
                 "--out", str(table), "--workers", "0", "--quiet"]) == 0
    page = tmp_path / "report.html"
    assert main(["report", model, "--buffer", "2K", "--results", str(table), "--out",
                 str(page), "--plots", str(tmp_path), "--quiet"]) == 0
    text = page.read_text()
    section = text[text.index("<h2>Design-space sweep</h2>"):]
    assert "<svg" in section and "Pareto fronts of 6 points" in section
    assert (tmp_path / "pareto.svg").exists()
    capsys.readouterr()
    before = table.read_bytes()
    assert main(["report", model, "--buffer", "2K", "--results", str(table), "--out",
                 str(table)]) == 2
    assert "refusing" in capsys.readouterr().err and table.read_bytes() == before
    assert main(["report", model, "--buffer", "2K", "--results", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "r2.html")]) == 2
    assert "no results table" in capsys.readouterr().err
