"""The bench report: `report.md` (tables, verdict, hardware, settings), `results.json`, and the figures."""

from __future__ import annotations

import json
import math
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from sciwm import __version__

FIGURES = ("pareto.png", "error_vs_time.png", "spectra.png", "snapshots.png")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str) -> dict:
    """Where the numbers were measured: CPU, GPU, versions, threads, git commit of the sciwm checkout."""
    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(torch.device(device)) if torch.device(device).type == "cuda" else None
    return {"cpu": cpu, "cpu_count": _cpu_count(), "gpu": gpu, "device": device, "torch": torch.__version__,
            "sciwm": __version__, "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
            "git_commit": _git_commit()}


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def jsonable(v: object) -> object:
    """Plain JSON: non-finite floats become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_report(result: dict, snapshots: dict, truth0: torch.Tensor, out: Path) -> list[str]:
    """Write results.json, report.md and the figures into `out`; return the paths written."""
    from sciwm.bench.figures import write_figures

    out.mkdir(parents=True, exist_ok=True)
    result.setdefault("hardware", environment(result["settings"]["device"]))
    figures = write_figures(result, snapshots, truth0.numpy(), out)
    files = [str(out / "results.json"), str(out / "report.md"), *map(str, figures)]
    result["files"] = files
    (out / "results.json").write_text(json.dumps(jsonable(result), indent=1) + "\n")
    (out / "report.md").write_text(markdown(result))
    return files


def _num(v: float | None, fmt: str = ".3g") -> str:
    return "inf" if v is None or (isinstance(v, float) and math.isinf(v)) else (
        "n/a" if isinstance(v, float) and math.isnan(v) else f"{v:{fmt}}")


def _mb(v: int | None) -> str:
    return "n/a" if v is None else f"{v / 2**20:.3g}"


def entry_table(result: dict) -> list[str]:
    """One row per entry: cost, memory, accuracy at the horizon, correlation times, spectra, drift."""
    s = result["settings"]
    fronts = {m: set(p["front"]) for m, p in result.get("pareto", {}).items()}
    head = ["entry", "cost s/(t.u.·traj) median [min, max]", "peak MB", "state MB",
            f"nRMSE t={s['horizon_time']:g}", "corr", "t_c < 0.8", "t_c < 0.95",
            "spectral err low/mid/high", "energy drift", "front"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in result["entries"]:
        c, h, ct = e["cost"], e["at_horizon"], e["correlation_time"]
        tc = [f"{ct[k]['median']:.3g}" + ("+" if ct[k]["censored_fraction"] >= 0.5 else "") for k in ("0.8", "0.95")]
        on = ", ".join(m for m, f in fronts.items() if e["name"] in f) or ("—" if e["kind"] == "solver" else "")
        name = f"**{e['name']}**" if e["kind"] == "surrogate" else e["name"]
        rows.append("| " + " | ".join([
            name, f"{c['s_per_time_unit']:.3g} [{c['min']:.3g}, {c['max']:.3g}]", _mb(e["memory"]["peak_bytes"]),
            _mb(e["memory"]["state_bytes"]), _num(h["nrmse_median"]), _num(h["correlation_median"]), *tc,
            "/".join(_num(v, ".2g") for v in h["spectral_error_median"]), _num(h["energy_drift_median"], ".2g"),
            on]) + " |")
    return rows


def markdown(result: dict) -> str:
    s, p, hw = result["settings"], result["problem"], result.get("hardware", {})
    lines = [f"# sciwm bench: {p['pde']} on `{s['data']}`", "",
             f"{s['samples']} test trajectories, {s['frames']} frames (lead time 0 .. "
             f"{s['simulated_time_per_rollout']:g}, dt_save {p['dt_save']:g}), grid {'x'.join(map(str, p['n']))}, "
             f"truth: {_truth(result)}. Cost is wall time per simulated time unit per trajectory; accuracy is "
             f"scored against the truth on the test grid.", "", "## Verdict", ""]
    for v in result.get("verdict", []):
        lines.append(f"- {v['sentence']}")
        be = v.get("break_even")
        if be:
            n = "never (not cheaper at equal accuracy)" if be["rollouts"] is None else \
                f"{(be['bound'] + ' ') if be['bound'] else ''}{be['rollouts']:,} rollouts of " \
                f"{s['simulated_time_per_rollout']:g} time units"
            lines.append(f"  - break-even: {n}, to repay training {be['training_s']:.3g} s + data generation "
                         f"{be['generation_s']:.3g} s ({be['note']}).")
    if not result.get("verdict"):
        lines.append("- No surrogate given: the table below is the solver ladder alone.")
    for f in result.get("pareto", {}).values():
        lines.append(f"- Solver Pareto front ({f['label']}): " + (", ".join(f["front"]) or "empty") + ".")
    lines += ["", "## Entries", "", *entry_table(result), "",
              "`+` after a correlation time: censored for at least half the samples (never fell below the threshold: "
              "the value is the horizon, a lower bound). " + _bands(result) + " Peak memory: " + _memory_method(result)
              + ".", ""]
    if result["dropped"]:
        lines += ["## Dropped rungs", ""] + [f"- {d['name']}: {d['reason']}" for d in result["dropped"]] + [""]
    lines += ["## What is measured and what is not", "",
              f"- Same device ({s['device']}), same batch ({s['batch']} trajectories), same test trajectories for "
              "every entry; timed region = the rollout call alone (solver: `Solver.rollout` on its grid; surrogate: "
              "`rollout_model` on normalised frames), synchronised before and after on CUDA.",
              f"- Warm: one untimed call per entry first; then {s['repeats']} repeats, interleaved across entries "
              "in alternating order; the median is reported with the min and max.",
              "- Not timed: data loading, resampling to and from the rung's grid, normalisation, building the "
              "solver (ETDRK4 coefficients, reported as `setup_s` in results.json), model loading.",
              "- Training and data generation are not in the cost; they enter the break-even number only.",
              "- Rungs start from the same frame as the surrogates' last history frame, resampled to their grid.",
              "- See docs/fairness.md for the rules and what the harness cannot check.", "",
              "## Hardware and versions", ""]
    lines += [f"- {k}: {v}" for k, v in hw.items()]
    lines += ["", "## Settings", "", "```json", json.dumps(jsonable(s), indent=1), "```", "",
              "## Figures", "", *[f"![{f}]({f})" for f in FIGURES], ""]
    return "\n".join(lines)


def _truth(result: dict) -> str:
    t = result["truth"]
    if t["kind"] == "data":
        return "the test data itself"
    d = t["data_vs_truth"]
    return (f"the reference solver re-run at n={'x'.join(map(str, t['n']))}, dt={t['dt']:g}, float64 (the stored "
            f"data's own median nRMSE against it at t = {d['time']:g}: {d['nrmse_median']:.3g})")


def _bands(result: dict) -> str:
    sp = result["spectra"]
    frac = ", ".join(f"{name} [{lo}, {hi}) {f:.2g}" for name, (lo, hi), f in
                     zip(("low", "mid", "high"), sp["bands"], sp["true_energy_fraction"], strict=True))
    text = (f"Spectral error bands (shells of the fundamental wavenumber; share of the true energy at the horizon): "
            f"{frac}.")
    empty = [name for name, f in zip(("low", "mid", "high"), sp["true_energy_fraction"], strict=True) if f < 1e-9]
    if empty:
        text += f" The {', '.join(empty)} band(s) hold almost no energy: their relative error compares round-off."
    return text


def _memory_method(result: dict) -> str:
    methods = {e["memory"]["method"] for e in result["entries"]}
    if methods == {"unavailable"}:
        return ("not measurable on this platform; `state MB` is the size of one batch of state tensors "
                "(solver: fields at the rung's grid; surrogate: history frames + weights)")
    return ", ".join(sorted(methods)) + "; `state MB` is one batch of fields at the entry's grid (+ weights)"
