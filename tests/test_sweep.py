"""Sweeps on Dask (DESIGN 7a): a grid on a real LocalCluster of 2 worker processes and on a
scheduler and worker started as separate processes gives the rows a sequential run gives;
the table is written whole, resumed, and survives a killed worker."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from onnx_models import small_network

import polyscan as ps
from polyscan.cli import main

DASK = Path(sys.executable).with_name("dask")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    path.write_bytes(small_network().SerializeToString())
    return ps.Grid(models=(str(path),), buffers=(1024, 4096), dram=("ddr3-1600", "ddr4-2400"))


@pytest.fixture(scope="module")
def sequential(grid):
    return ps.sweep(grid, workers=0)


def _figures(rows):  # the search's seconds are the only column a run may change
    return [{k: v for k, v in row.items() if k != "search_seconds"} for row in rows]


def test_a_local_cluster_gives_the_sequential_rows_and_a_rerun_reads_them(grid, sequential,
                                                                          tmp_path):
    out = tmp_path / "results.parquet"
    rows = ps.sweep(grid, out, workers=2)
    assert _figures(rows) == _figures(sequential)
    assert len(rows) == 4 and all(row["error"] is None for row in rows)
    assert all(row["floor"] <= row["dram_entries"] <= row["compulsory_unfused"] for row in rows)
    assert ps.read_results(out) == rows
    assert ps.sweep(grid, out, workers=2) == rows  # nothing rerun: the same seconds too
    bigger = ps.Grid(models=grid.models, buffers=(1024, 4096, 16384), dram=grid.dram)
    more = ps.sweep(bigger, out, workers=0)
    assert more[:4] == rows and len(more) == 6  # only the new buffer ran


def test_csv_holds_the_same_rows(grid, sequential, tmp_path):
    out = tmp_path / "results.csv"
    ps.sweep(grid, out, workers=0)
    assert _figures(ps.read_results(out)) == _figures(sequential)


def _start(*argv):
    return subprocess.Popen([str(DASK), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _address(scheduler_file: Path) -> str:
    for _ in range(600):
        if scheduler_file.exists():
            return json.loads(scheduler_file.read_text())["address"]
        time.sleep(0.1)
    raise AssertionError("the scheduler did not start")


def test_a_separate_scheduler_and_workers_give_the_same_rows_and_survive_a_killed_worker(
        grid, sequential, tmp_path):
    file = tmp_path / "scheduler.json"
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", "0",
                       "--no-dashboard", "--scheduler-file", str(file))
    workers = []
    try:
        address = _address(file)
        workers = [_start("worker", address, "--nworkers", "1", "--nthreads", "1",
                          "--no-dashboard") for _ in range(2)]
        out = tmp_path / "results.parquet"
        with subprocess.Popen([sys.executable, "-c", "import sys, polyscan as ps; "
                               "ps.sweep(ps.Grid(models=(sys.argv[1],), buffers=(1024, 4096, "
                               "16384), dram=('ddr3-1600', 'ddr4-2400')), sys.argv[2], "
                               "scheduler=sys.argv[3])", grid.models[0], str(out), address],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:
            for _ in range(1200):  # a worker killed once the first row is in the table
                if out.exists() or run.poll() is not None:
                    break
                time.sleep(0.1)
            os.killpg(workers[0].pid, signal.SIGKILL)
            first = ps.read_results(out)
            run.wait(timeout=300)
        assert first and all(row in ps.read_results(out) for row in first)  # none lost
        rows = ps.sweep(grid, out, scheduler=address)  # a rerun completes the grid
        assert _figures(rows) == _figures(sequential)
    finally:
        for process in [*workers, scheduler]:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_cli_writes_the_table_plots_its_fronts_and_refuses_a_foreign_file(grid, tmp_path,
                                                                              capsys):
    out, figure = tmp_path / "r.csv", tmp_path / "fronts.svg"
    assert main(["sweep", grid.models[0], "--buffers", "1K,4K", "--dram",
                 "ddr3-1600,ddr4-2400", "--workers", "0", "--out", str(out), "--quiet"]) == 0
    assert "4 points (0 refused)" in capsys.readouterr().out
    assert main(["plot", str(out), "--out", str(figure)]) == 0
    assert figure.read_text().lstrip().startswith("<?xml")
    foreign = tmp_path / "mine.csv"
    foreign.write_text("a,b\n1,2\n")
    assert main(["sweep", grid.models[0], "--buffers", "1K", "--workers", "0", "--out",
                 str(foreign)]) == 2
    assert "not a polyscan results table" in capsys.readouterr().err
    assert foreign.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--buffers", "1K"], "name a model"),
    (["sweep", "mobilenet_v2", "--buffers", "1K", "--objective", "joy"], "objectives"),
    (["sweep", "mobilenet_v2", "--buffers", "1K", "--dram", "ddr9"], "ddr9"),
    (["sweep", "mobilenet_v2", "--buffers", "1K,1K"], "twice"),
    (["sweep", "mobilenet_v2", "--buffers", "1K", "--out", "r.xlsx"], ".parquet or .csv"),
    (["sweep", "nonet", "--buffers", "1K"], "unknown model"),
])
def test_bad_grids_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_grid_file_names_every_axis(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('models = ["mobilenet_v2"]\nbuffers = ["16K", 65536]\n'
                    'dram = ["ddr3-1600", "lpddr4-3200"]\nobjectives = ["traffic", "energy"]\n')
    points = ps.load_grid(path).points()
    assert len(points) == 8 and {p.buffer for p in points} == {16384, 65536}
    path.write_text('models = ["mobilenet_v2"]\nbuffers = [1]\nbogus = 1\n')
    with pytest.raises(ps.PolyscanError, match="bogus"):
        ps.load_grid(path)


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_in_one_line_keeping_its_finished_rows(grid, sequential, tmp_path):
    out = tmp_path / "results.parquet"
    started = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from polyscan.cli import main; sys.exit(main(sys.argv[1:]))")
    with subprocess.Popen([sys.executable, "-c", started, "sweep", grid.models[0], "--buffers",
                           "1K,4K,16K,64K", "--dram", "ddr3-1600,ddr4-2400,lpddr4-3200",
                           "--workers", "2", "--out", str(out), "--quiet"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        for _ in range(3000):  # interrupted once the first row is in the table
            if out.exists() or run.poll() is not None:
                break
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert err == "polyscan: interrupted\n"
    kept = ps.read_results(out)
    assert 1 <= len(kept) < 12
    rows = ps.sweep(ps.Grid(models=grid.models, buffers=(1024, 4096, 16384, 65536),
                            dram=("ddr3-1600", "ddr4-2400", "lpddr4-3200")), out, workers=0)
    assert len(rows) == 12 and all(row in rows for row in kept)
