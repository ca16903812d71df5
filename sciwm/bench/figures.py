"""Bench figures: the Pareto plot, error and correlation vs time, spectra, and snapshots (matplotlib Agg).

Solver rungs on a Pareto front are drawn in colour (blues), the other rungs in light grey, surrogates
as large markers; cost axes are logarithmic, in seconds per simulated time unit per trajectory.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COST_LABEL = "cost: wall s per simulated time unit per trajectory (log)"
MAX_SHOWN = 6  # entries drawn in colour in the curve figures


def _finite(v: list | float | None) -> np.ndarray:
    a = np.asarray([np.nan if x is None else x for x in np.atleast_1d(v)], dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _shown(result: dict) -> list[dict]:
    """The entries worth a colour: surrogates, then rungs of the primary front (cheapest dropped first)."""
    front = result["pareto"][result["settings"]["accuracy"]]["front"] if result.get("pareto") else []
    by_name = {e["name"]: e for e in result["entries"]}
    surrogates = [e for e in result["entries"] if e["kind"] == "surrogate"]
    rungs = [by_name[n] for n in reversed(front)][: max(1, MAX_SHOWN - len(surrogates))]
    return surrogates + rungs


def _colours(result: dict) -> dict[str, object]:
    """One colour per shown entry, the same in every figure: surrogates C1, C2, ...; front rungs in blues."""
    shown = _shown(result)
    rungs = [e["name"] for e in shown if e["kind"] == "solver"]
    out: dict[str, object] = {e["name"]: f"C{i + 1}" for i, e in
                              enumerate(e for e in shown if e["kind"] == "surrogate")}
    out.update({n: plt.cm.Blues(0.45 + 0.5 * i / max(1, len(rungs) - 1)) for i, n in enumerate(rungs)})
    return out


def plot_pareto(result: dict, path: Path) -> None:
    s = result["settings"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    panels = (("nrmse", f"median nRMSE at t = {s['horizon_time']:g} (log)", True),
              ("correlation_time", f"median correlation time, < {s['threshold']:g} [time units]", False))
    thr = f"{s['threshold']:g}"
    for ax, (metric, ylabel, log) in zip(axes, panels, strict=True):
        def val(e: dict, metric: str = metric) -> float:
            return e["at_horizon"]["nrmse_median"] if metric == "nrmse" else e["correlation_time"][thr]["median"]

        front = set(result.get("pareto", {}).get(metric, {}).get("front", []))
        rungs = [e for e in result["entries"] if e["kind"] == "solver"]
        for group, style in ((False, dict(color="0.7", s=18)), (True, dict(color="tab:blue", s=30))):
            pts = [e for e in rungs if (e["name"] in front) == group]
            ax.scatter([e["cost"]["s_per_time_unit"] for e in pts], _finite([val(e) for e in pts]),
                       label="solver rung on the front" if group else "solver rung", zorder=3, **style)
        fr = sorted((e for e in rungs if e["name"] in front), key=lambda e: e["cost"]["s_per_time_unit"])
        ax.plot([e["cost"]["s_per_time_unit"] for e in fr], _finite([val(e) for e in fr]), color="tab:blue", lw=1)
        for e in fr:
            ax.annotate(e["name"].removeprefix("solver "), (e["cost"]["s_per_time_unit"], _finite(val(e))[0]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
        for i, e in enumerate(x for x in result["entries"] if x["kind"] == "surrogate"):
            c = e["cost"]
            ax.errorbar([c["s_per_time_unit"]], _finite(val(e)), xerr=[[c["s_per_time_unit"] - c["min"]],
                        [c["max"] - c["s_per_time_unit"]]], fmt="*", ms=14, color=f"C{i + 1}", label=e["name"],
                        zorder=4)
        ax.set(xscale="log", yscale="log" if log else "linear", xlabel=COST_LABEL, ylabel=ylabel,
               title=("lower-left is better" if log else "upper-left is better"))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_error_vs_time(result: dict, path: Path) -> None:
    t = np.asarray(result["times"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    colours = _colours(result)
    for e in result["entries"]:
        on = e["name"] in colours
        kw = dict(lw=1.6 if on else 0.7, color=colours.get(e["name"], "0.8"), label=e["name"] if on else None,
                  ls="-" if e["kind"] == "surrogate" or not on else "--")
        a.plot(t[1:], _finite(e["curves"]["nrmse"]["median"])[1:], **kw)
        b.plot(t, _finite(e["curves"]["correlation"]["median"]), **kw)
    a.set(yscale="log", xlabel="lead time [time units]", ylabel="median nRMSE  ||pred - true|| / ||true||",
          title="error vs time (grey: other rungs)")
    for thr in result["settings"]["thresholds"]:
        b.axhline(thr, color="k", ls=":", lw=0.8)
    b.set(xlabel="lead time [time units]", ylabel="median Pearson correlation", title="correlation vs time",
          ylim=(-0.1, 1.05))
    a.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_spectra(result: dict, path: Path) -> None:
    sp = result["spectra"]
    k = np.asarray(sp["k"])
    fields = result["problem"]["fields"]
    fig, axes = plt.subplots(len(fields), 2, figsize=(12, 4.2 * len(fields)), layout="constrained", squeeze=False)
    for c, f in enumerate(fields):
        for j, t in enumerate(sp["times"]):
            ax = axes[c, j]
            ax.loglog(k, np.clip(_finite(sp["truth"][j][c]), 1e-300, None), "k-", lw=2, label="truth")
            colours = _colours(result)
            for e in _shown(result):
                ax.loglog(k, _finite(sp["entries"][e["name"]][j][c]), ls="-" if e["kind"] == "surrogate" else "--",
                          color=colours[e["name"]], label=e["name"])
            ax.set(xlabel="wavenumber k", ylabel=f"E(k) of {f}, sample mean", title=f"{f}, lead time t = {t:g}")
            ax.set_ylim(bottom=max(1e-20, np.nanmin(_finite(sp["truth"][j][c])[1:]) * 1e-3))
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_snapshots(result: dict, snapshots: dict, truth: np.ndarray, path: Path) -> None:
    """Sample 0: 1D space-time diagrams (x across, t up); 2D rows of frames. Shared colour scale (truth's)."""
    shown = [e["name"] for e in _shown(result) if e["name"] in snapshots]
    panels = [("truth", truth)] + [(n, snapshots[n]) for n in shown]
    vmax = float(np.nanmax(np.abs(truth)))
    t = np.asarray(result["times"])
    L = result["problem"]["domain_length"]
    if truth.ndim == 3:  # (T, C, x)
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) + 1, 4), layout="constrained",
                                 squeeze=False, sharey=True)
        for ax, (name, a) in zip(axes[0], panels, strict=True):
            im = ax.imshow(a[:, 0], origin="lower", aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                           extent=(0, L[0], t[0], t[-1]))
            ax.set(title=name, xlabel="x")
        axes[0, 0].set_ylabel("lead time")
        fig.colorbar(im, ax=axes[0, -1], label=result["problem"]["fields"][0])
    else:  # (T, C, y, x): truth has every frame, entries a few
        h = result["settings"]["horizon_frame"]
        idx = sorted({0, h, (len(t) - 1) // 2, len(t) - 1})
        panels[0] = ("truth", truth[idx])
        fig, axes = plt.subplots(len(panels), len(idx), figsize=(2.6 * len(idx), 2.5 * len(panels)),
                                 layout="constrained", squeeze=False)
        for r, (name, a) in enumerate(panels):
            for j, i in enumerate(idx):
                im = axes[r, j].imshow(a[j, 0], origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                                       extent=(0, L[0], 0, L[-1]))
                axes[r, j].set_title(f"{name}, t = {t[i]:g}", fontsize=8)
                axes[r, j].set_xticks([])
                axes[r, j].set_yticks([])
        fig.colorbar(im, ax=axes[:, -1], label=result["problem"]["fields"][0])
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_figures(result: dict, snapshots: dict, truth: np.ndarray, out: Path) -> list[Path]:
    paths = [out / n for n in ("pareto.png", "error_vs_time.png", "spectra.png", "snapshots.png")]
    plot_pareto(result, paths[0])
    plot_error_vs_time(result, paths[1])
    plot_spectra(result, paths[2])
    plot_snapshots(result, snapshots, truth, paths[3])
    return paths
