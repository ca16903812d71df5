"""The benchmark harness: the ladder is set up right (its top rung IS the data), coarser rungs are cheaper
and worse, the Pareto arithmetic, the verdict sentence, the report, and one-line config errors."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch
from tiny import burgers_data

from sciwm.bench import BenchConfig, LadderConfig, Problem, default_factors, default_sizes, ladder, run_bench
from sciwm.bench.ladder import SolverEntry
from sciwm.bench.pareto import break_even, cost_at_value, dominated_sentence, dominating, pareto_front, value_at_cost
from sciwm.bench_cli import add_bench_parser
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.runconfig import RunConfig
from sciwm.train import train


def make_run(tmp: Path, n: int) -> tuple[Path, Path]:
    data = tmp / f"data{n}"
    burgers_data(data, n=n, test=4)
    cfg = RunConfig.from_dict({
        "data": {"train": str(data / "train.h5")},
        "model": {"name": "fno", "width": 8, "modes": 6, "layers": 2},
        "train": {"steps": 3, "batch_size": 8, "warmup": 1, "log_every": 1, "val_every": 1000},
    })
    train(cfg, tmp / f"run{n}", progress=False)
    return data / "test.h5", tmp / f"run{n}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_run(tmp_path_factory.mktemp("bench"), 32)


@pytest.fixture(scope="module")
def bench(tiny, tmp_path_factory) -> tuple[dict, Path]:
    test, run = tiny
    out = tmp_path_factory.mktemp("report")
    threads = torch.get_num_threads()
    result = run_bench({"data": str(test), "runs": [str(run)], "repeats": 2, "horizon": 0.25, "threads": 1}, out=out)
    assert torch.get_num_threads() == threads  # restored
    return result, out


def by_name(result: dict) -> dict[str, dict]:
    return {e["name"]: e for e in result["entries"]}


def test_top_rung_reproduces_the_test_data(bench):
    # same PDE, grid, step and start frame as the generator: only float32 rounding separates them
    top = by_name(bench[0])["solver n=32 dt=0.01"]
    assert max(top["curves"]["nrmse"]["mean"]) < 1e-5  # measured ~1e-7 (float32 solve of float64-made data)
    assert min(top["curves"]["correlation"]["median"]) > 1 - 1e-9


def test_default_ladder_spans_grids_and_steps_that_land_on_saved_frames(tiny):
    problem = Problem.from_dataset(open_data(tiny[0]), str(tiny[0]))
    assert default_sizes(256) == [256, 192, 128, 96, 64]
    assert default_sizes(32) == [32, 24, 16, 12, 8]
    assert default_factors(10) == [1, 2, 5, 10] and default_factors(5) == [1, 5]
    rungs = ladder(problem, LadderConfig())
    assert len(rungs) == 10 and all(r.steps_per_frame * r.dt == pytest.approx(0.05) for r in rungs)


def test_coarser_rungs_are_cheaper_and_less_accurate(tiny, bench):
    problem = Problem.from_dataset(open_data(tiny[0]), str(tiny[0]))
    entries = {(r.n[0], r.steps_per_frame): SolverEntry(problem, r, "cpu") for r in ladder(problem, LadderConfig())}
    top = entries[(32, 5)]
    for (n, spf), e in entries.items():  # work per step ~ state size; steps per frame ~ 1 / dt
        assert e.state_bytes(4) / top.state_bytes(4) == n / 32
        assert e.rung.steps_per_frame / top.rung.steps_per_frame == spf / 5
    err = {name: e["at_horizon"]["nrmse_median"] for name, e in by_name(bench[0]).items()}
    assert err["solver n=32 dt=0.05"] > 3 * err["solver n=32 dt=0.01"]  # measured 2.5e-6 vs 2.9e-7
    assert err["solver n=8 dt=0.01"] > err["solver n=16 dt=0.01"] > err["solver n=32 dt=0.01"]
    assert all(v > 3 * err["solver n=32 dt=0.01"] for k, v in err.items() if k.startswith("solver n=")
               and k != "solver n=32 dt=0.01")


def test_pareto_front_keeps_points_nothing_beats_on_both():
    costs = [1.0, 2.0, 2.0, 4.0, 8.0, 3.0, 0.5]
    errors = [0.5, 0.3, 0.2, 0.25, 0.05, math.inf, 0.9]
    assert pareto_front(costs, errors) == [6, 0, 2, 4]  # 1 (tied cost, worse), 3 (dearer, worse), 5 (inf) out
    assert dominating(costs, errors, cost=3.0, value=0.4) == [1, 2]


def test_speedup_at_equal_accuracy_interpolates_in_log_cost():
    fc, fe = [1.0, 10.0, 100.0], [0.1, 0.01, 0.001]  # error ~ 1/cost: a straight line in log-log
    eq = cost_at_value(fc, fe, 0.003)
    assert eq.bound == "" and eq.value == pytest.approx(100 / 3)
    assert eq.value / 2.0 == pytest.approx(50 / 3)  # a surrogate at cost 2 with error 0.003: 16.7x faster
    assert cost_at_value(fc, fe, 0.5).bound == "at most"  # the cheapest rung already does better
    assert cost_at_value(fc, fe, 1e-4).bound == "at least"  # no rung is that accurate
    assert value_at_cost(fc, fe, 3.1622776601683795).value == pytest.approx(0.1 / 10**0.5)
    assert value_at_cost(fc, fe, 0.1).bound == "n/a" and value_at_cost(fc, fe, 1e3).bound == "at most"
    # correlation time (higher is better) goes in as its negative, interpolated linearly
    assert cost_at_value([1.0, 100.0], [-10.0, -30.0], -20.0, log_value=False).value == pytest.approx(10.0)


def test_dominated_surrogate_gets_a_plain_sentence():
    s = dominated_sentence("fno (run)", "solver at n=64 dt=0.2", 3.14, "nRMSE at t = 10", "0.12", "0.35")
    assert s == ("fno (run) is dominated: the solver at n=64 dt=0.2 is both 3.1x cheaper and more accurate "
                 "(nRMSE at t = 10 0.12 vs 0.35).")
    assert break_even(100.0, solver_cost=3.0, surrogate_cost=1.0, span=10.0) == 5
    assert break_even(100.0, solver_cost=1.0, surrogate_cost=3.0, span=10.0) is None


def test_verdict_names_each_surrogate_on_both_fronts(bench):
    result = bench[0]
    assert [v["metric"] for v in result["verdict"]] == ["nrmse", "correlation_time"]
    v = result["verdict"][0]
    assert v["entry"] == "fno (run32)" and v["sentence"].startswith("fno (run32)")
    # an untrained 3-step FNO is worse than the top rung at any cost
    assert v["dominated_by"] and "dominated" in v["sentence"]
    assert result["pareto"]["nrmse"]["front"][-1] == "solver n=32 dt=0.01"


def test_results_round_trip_and_report_mentions_every_entry(bench):
    result, out = bench
    saved = json.loads((out / "results.json").read_text())
    assert saved["format"] == "sciwm-bench" and len(saved["entries"]) == len(result["entries"]) == 11
    assert saved["verdict"] == json.loads(json.dumps(result["verdict"]))
    e = saved["entries"][0]
    assert e["cost"]["s_per_time_unit"] > 0 and len(e["cost"]["batch_seconds"]) == 2
    assert set(e["correlation_time"]) == {"0.8", "0.95"}
    report = (out / "report.md").read_text()
    for entry in result["entries"]:
        assert entry["name"] in report
    assert "git_commit" in report and "torch" in report and "## Verdict" in report
    assert saved["settings"]["torch_threads"] == saved["hardware"]["torch_threads"] == 1
    for fig in ("pareto.png", "error_vs_time.png", "spectra.png", "snapshots.png"):
        assert (out / fig).stat().st_size > 10_000


def test_reference_truth_rerun_finer(tiny):
    result = run_bench({"data": str(tiny[0]), "truth": "solver", "repeats": 1, "ladder": {"n": [32, 16],
                        "dt_factor": [1]}})
    assert result["truth"]["n"] == [64] and result["truth"]["precision"] == "float64"
    # n = 32 under-resolves this Burgers set: measured 1.5e-3 against n = 64 (and n = 64 vs 128: 1.9e-7);
    # the n = 32 rung inherits exactly the data's own error
    data_err = result["truth"]["data_vs_truth"]["nrmse_median"]
    err = {e["name"]: e["at_horizon"]["nrmse_median"] for e in result["entries"]}
    assert 3e-4 < data_err < 1e-2
    assert err["solver n=32 dt=0.01"] == pytest.approx(data_err, rel=1e-2)
    assert err["solver n=16 dt=0.01"] > 3 * data_err


def test_bad_configs_fail_with_one_line(tiny, tmp_path):
    test, run = tiny
    other_test, other_run = make_run(tmp_path, 16)
    cases = [
        ({"data": str(tmp_path / "missing.h5")}, "no such file"),
        ({"data": str(test), "runs": [str(other_run)]}, "grid"),
        ({"data": str(test), "speed": 1}, "unknown key"),
        ({"data": str(test), "ladder": {"n": [32], "dt_factor": [3]}}, "divide"),
        ({"data": str(test), "horizon": 0.123}, "horizon"),
    ]
    for raw, match in cases:
        with pytest.raises(SciwmError, match=match) as err:
            run_bench(raw)
        assert "\n" not in str(err.value)
    with pytest.raises(SciwmError, match="unknown key"):
        BenchConfig.from_dict({"data": "x", "ladder": {"grids": [4]}})


def test_cli_writes_the_report(tiny, tmp_path, capsys):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(f'data = "{tiny[0]}"\nrepeats = 1\n[ladder]\nn = [32, 16]\ndt_factor = [1, 5]\n')
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", str(cfg), "--out", str(tmp_path / "r"), "--quiet"])
    args.func(args)
    assert (tmp_path / "r" / "report.md").exists()
    assert capsys.readouterr().out.strip().endswith("report.md")


def test_timing_excludes_the_warm_up_call_and_interleaves_repeats():
    import time

    from sciwm.bench.timing import time_calls

    calls, order = {"first": 0}, []

    def slow_first() -> None:  # like a first call that builds FFT plans or compiles: 0.3 s, then 0.01 s
        calls["first"] += 1
        order.append("a")
        time.sleep(0.3 if calls["first"] == 1 else 0.01)

    def steady() -> None:
        order.append("b")
        time.sleep(0.01)

    t = time_calls({"a": slow_first, "b": steady}, repeats=3, device="cpu")
    assert len(t["a"].seconds) == 3 and max(t["a"].seconds) < 0.15  # the 0.3 s warm-up is not timed
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then alternating order per round
