"""sciwm.evaluate and `sciwm eval`: alignment, hand-computable summaries, diverged rollouts, bad input."""

import argparse
import json

import numpy as np
import pytest
from data_factories import ATTRS, values

from sciwm.data.format import TrajectoryWriter
from sciwm.errors import SciwmError
from sciwm.eval_cli import add_eval_parser
from sciwm.evaluate import evaluate, format_table

DT = 0.5


def write(path, fields, time=None, x=None, y=None, seeds=None):
    """A complete sciwm file holding `fields` (name -> (n, T, *grid)); frames at 0, DT, 2 DT, ..."""
    first = next(iter(fields.values()))
    n, nt = first.shape[:2]
    w = TrajectoryWriter.create(path, fields=list(fields), time=np.arange(nt) * DT if time is None else time,
                                x=np.arange(first.shape[-1]) * 2.0 / first.shape[-1] if x is None else x,
                                y=None if first.ndim == 3 else np.arange(first.shape[2]) * 2.0 / first.shape[2],
                                attrs=ATTRS, n_expected=n)
    w.append({k: v.astype(np.float32) for k, v in fields.items()}, seeds=seeds)
    w.finish()
    return path


@pytest.fixture
def truth(tmp_path):
    u = values((4, 9, 16))  # white noise: energy in every band
    return write(tmp_path / "truth.h5", {"u": u}, seeds=np.arange(10, 14)), u


def test_doubled_prediction_scores_by_hand(tmp_path, truth):
    path, u = truth
    pred = write(tmp_path / "pred.h5", {"u": 2 * u[:, :7]})  # shorter: 7 of 9 frames, seeds unset
    r = evaluate(pred, path)
    assert r["n_frames"] == 7 and r["times"] == [0.5 * i for i in range(7)]
    h = r["horizons"]
    assert h["steps"] == [1, 2, 3, 6] and h["times"] == [0.5, 1.0, 1.5, 3.0]
    assert h["nrmse_mean"] == pytest.approx([1.0] * 4)
    t = u[:, [1, 2, 3, 6]].astype(np.float64)  # VRMSE = rms(u) / std(u) here, which the mean of u tips over 1
    assert h["vrmse_mean"] == pytest.approx(np.mean(np.sqrt((t**2).mean(-1) / (t.var(-1) + 1e-7)), 0), rel=1e-6)
    assert h["correlation_median"] == pytest.approx([1.0] * 4)
    assert h["energy_drift_median"] == pytest.approx([3.0] * 4)  # (4 E - E) / E
    assert np.allclose(r["spectral_error"]["median_at_horizons"], 3.0)  # every band 4x the energy
    assert r["spectral_error"]["bands"] == [[1, 4], [4, 6], [6, 9]]
    assert r["correlation_time"]["0.8"]["censored_fraction"] == 1.0
    assert r["correlation_time"]["0.8"]["median"] == 3.0  # never fell: the horizon
    assert r["non_finite"]["n_samples"] == 0


def test_correlation_time_from_sign_flips(tmp_path, truth):
    path, u = truth
    p = u.copy()
    for s, k in enumerate([2, 3, 5, 6]):
        p[s, k:] = -u[s, k:]  # correlation 1, then -1 from frame k on
    r = evaluate(write(tmp_path / "pred.h5", {"u": p}), path, threshold=0.9)
    assert list(r["correlation_time"]) == ["0.9", "0.8", "0.95"]
    c = r["correlation_time"]["0.8"]
    assert c["per_sample"] == [1.0, 1.5, 2.5, 3.0] and c["censored"] == [False] * 4
    assert (c["median"], c["q25"], c["q75"]) == (2.0, 1.375, 2.625)
    assert r["curves"]["correlation"]["median"][:2] == pytest.approx([1.0, 1.0])
    assert r["curves"]["correlation"]["median"][-1] == pytest.approx(-1.0)


def test_frames_are_matched_by_time(tmp_path, truth):
    path, u = truth
    pred = write(tmp_path / "pred.h5", {"u": u[:, 3:]}, time=np.arange(3, 9) * DT)  # starts at t = 1.5
    r = evaluate(pred, path)
    assert r["t0"] == 1.5 and r["n_frames"] == 6 and r["times"][-1] == 2.5
    assert r["horizons"]["nrmse_mean"] == [0.0] * len(r["horizons"]["steps"])


def test_diverged_rollout_is_scored_not_refused(tmp_path, truth):
    path, u = truth
    p = u.copy()
    p[1, 4:, 3] = np.nan  # sample 1 diverges at t = 2.0
    p[1, 6:] = np.inf
    r = evaluate(write(tmp_path / "pred.h5", {"u": p}), path, out=tmp_path / "out")
    nf = r["non_finite"]
    assert nf["n_samples"] == 1 and nf["first_time"] == [None, 2.0, None, None] and nf["earliest"] == 2.0
    assert r["correlation_time"]["0.8"]["per_sample"] == [4.0, 2.0, 4.0, 4.0]
    assert r["horizons"]["nrmse_mean"][-1] == np.inf and r["horizons"]["nrmse_median"][-1] == 0.0
    assert r["curves"]["correlation"]["mean"][4] == pytest.approx(0.75)  # (1 + 0 + 1 + 1) / 4
    assert r["horizons"]["energy_drift_median"][-1] == 0.0  # the diverged sample is left out of drift
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["horizons"]["nrmse_mean"][-1] is None and saved["non_finite"]["earliest"] == 2.0
    assert {p.rsplit("/", 1)[-1] for p in r["figures"]} == {"curves.png", "spectra.png", "fields.png"}
    assert saved["figures"] == r["figures"]  # metrics.json lists the figures too (docs/metrics.md)
    assert "1 of 4 predictions have non-finite frames, the first at lead t = 2" in format_table(r)


def test_2d_two_fields(tmp_path):
    u, v = values((2, 5, 8, 8), 1), values((2, 5, 8, 8), 2)
    r = evaluate(write(tmp_path / "p.h5", {"u": u + 0.5, "v": v}), write(tmp_path / "t.h5", {"u": u, "v": v}))
    rms = np.sqrt((u[:, 1:].astype(np.float64) ** 2).mean((-2, -1)))
    expected = (0.5 / rms).mean()  # nRMSE of u is 0.5 / rms(u); of v, 0; averaged over the two fields
    assert r["fields"] == ["u", "v"] and np.mean(r["curves"]["nrmse"]["mean"][1:]) == pytest.approx(expected / 2)
    assert r["curves"]["nrmse"]["fields"]["v"] == [0.0] * 5
    assert r["curves"]["correlation"]["median"] == pytest.approx([1.0] * 5)
    assert r["spectral_error"]["bands"] == [[1, 2], [2, 4], [4, 5]]  # thirds of shells 1..4, rounded


def test_2d_figures_and_animation(tmp_path):
    w = values((1, 4, 8, 8), 3)
    r = evaluate(write(tmp_path / "p.h5", {"w": -w}), write(tmp_path / "t.h5", {"w": w}),
                 out=tmp_path / "out", animate=True)
    assert r["correlation_time"]["0.8"]["per_sample"] == [0.0]  # anticorrelated from the start
    assert [p.rsplit("/", 1)[-1] for p in r["figures"]] == ["curves.png", "spectra.png", "fields.png",
                                                            "animation.gif"]
    assert all((tmp_path / "out" / n).stat().st_size > 1000 for n in ("fields.png", "animation.gif"))


@pytest.mark.parametrize(("make", "message"), [
    (lambda d, u: d / "missing.h5", "no such file"),
    (lambda d, u: write(d / "p.h5", {"u": u[:, :, :8]}, x=np.arange(8) * 0.25), "grid .* differs"),
    (lambda d, u: write(d / "p.h5", {"v": u}), "has fields \\['v'\\]"),
    (lambda d, u: write(d / "p.h5", {"u": u[:3]}), "has 3 samples"),
    (lambda d, u: write(d / "p.h5", {"u": u}, time=np.arange(9) * DT + 100), "need at least 2 common frames"),
    (lambda d, u: write(d / "p.h5", {"u": u}, seeds=[10, 11, 99, 13]), "sample 2 has seed 99"),
    (lambda d, u: write(d / "p.h5", {"u": u}, x=np.arange(16) * 0.5), "coordinate x differs"),
])
def test_bad_input_is_one_clear_error(tmp_path, truth, make, message):
    path, u = truth
    with pytest.raises(SciwmError, match=message):
        evaluate(make(tmp_path, u), path)


def test_non_finite_truth_is_refused(tmp_path, truth):
    path, u = truth
    bad = u.copy()
    bad[0, 2, 0] = np.nan
    with pytest.raises(SciwmError, match="truth file has non-finite"):
        evaluate(path, write(tmp_path / "bad.h5", {"u": bad}, seeds=np.arange(10, 14)))


def _cli(argv):
    parser = argparse.ArgumentParser(prog="sciwm")
    add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    args.func(args)


def test_cli_prints_the_table_and_checks_the_threshold(tmp_path, truth, capsys):
    path, u = truth
    pred = write(tmp_path / "pred.h5", {"u": u})
    _cli([str(pred), str(path), "--threshold", "0.9"])
    out = capsys.readouterr().out
    assert "< 0.9" in out and "< 0.95" in out and "nRMSE mean" in out
    assert not (tmp_path / "metrics.json").exists()  # without --out nothing is written
    with pytest.raises(SciwmError, match="must lie in \\(0, 1\\)"):
        _cli([str(pred), str(path), "--threshold", "80"])
