"""Figures of an evaluation: error and correlation curves, spectra, truth-vs-prediction fields, a 2D GIF.

All take the dict of `sciwm.evaluate.evaluate` (and the aligned `Pair` for fields); axes carry the
file's time and space units. Non-finite values (diverged frames) are left blank.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sciwm.plots import _label  # noqa: E402

if TYPE_CHECKING:
    from sciwm.evaluate import Pair

GIF_FRAMES = 40  # at most this many frames in the animation, evenly spaced


def _finite(v: list) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _scale(*stats: dict) -> str:
    """"log" when there is something positive to show, else "linear" (a perfect prediction is all zeros)."""
    values = np.concatenate([_finite(s["median"]) for s in stats])
    return "log" if np.any(values > 0) else "linear"


def _band(ax, t: np.ndarray, stats: dict, label: str, log: bool = False) -> None:
    """Median line and interquartile band over samples (zeros left out on log axes)."""
    med, q25, q75 = (_finite(stats[k]) for k in ("median", "q25", "q75"))
    if log:
        med, q25, q75 = (np.where(v > 0, v, np.nan) for v in (med, q25, q75))
    line, = ax.plot(t, med, label=f"{label} (median)")
    ax.fill_between(t, q25, q75, color=line.get_color(), alpha=0.25, label=f"{label} (IQR)")


def plot_curves(r: dict, time_label: str = "lead time t") -> Figure:
    """2x2: nRMSE, correlation (with thresholds), spectral error per band, energy truth vs prediction."""
    t = np.asarray(r["times"])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained")
    (a, b), (c, d) = axes
    log_a = _scale(r["curves"]["nrmse"]) == "log"
    _band(a, t, r["curves"]["nrmse"], "nRMSE", log_a)
    a.set(yscale="log" if log_a else "linear", ylabel="nRMSE  ||pred - true|| / ||true||", title="error vs time")
    _band(b, t, r["curves"]["correlation"], "correlation")
    for thr, style in zip(r["correlation_time"], ("--", ":", "-."), strict=False):
        b.axhline(float(thr), color="gray", ls=style, lw=1, label=f"threshold {thr}")
    b.set(ylabel="Pearson correlation", ylim=(min(-0.05, np.nanmin(_finite(r["curves"]["correlation"]["q25"]))), 1.05),
          title="correlation vs time")
    log_c = _scale(*r["curves"]["spectral_error"].values()) == "log"
    for name in r["spectral_error"]["band_names"]:
        _band(c, t, r["curves"]["spectral_error"][name], f"{name} k", log_c)
    c.set(yscale="log" if log_c else "linear", ylabel="relative spectral error", title="energy-spectrum error per band")
    for field, e in r["curves"]["energy"].items():
        line, = d.plot(t, _finite(e["truth"]), label=f"{field} truth")
        d.plot(t, _finite(e["pred"]), ls="--", color=line.get_color(), label=f"{field} prediction")
    d.set(ylabel="energy  <u^2 / 2> (sample mean)", title="energy vs time")
    earliest = r["non_finite"]["earliest"]
    for ax in axes.flat:
        if earliest is not None:
            ax.axvline(earliest, color="red", lw=1, label="first non-finite frame")
        ax.set_xlabel(time_label)
        ax.legend(fontsize=7)
    return fig


def plot_spectra(r: dict) -> Figure:
    """Sample-mean energy spectra E(k), truth (solid) vs prediction (dashed) at a few times; log-log."""
    sp = r["spectra"]
    k = np.asarray(sp["k"])
    fields = list(sp["truth"])
    fig, axes = plt.subplots(1, len(fields), figsize=(5.5 * len(fields), 4.2), squeeze=False, layout="constrained")
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(sp["times"])))
    for ax, field in zip(axes[0], fields, strict=True):
        for i, (time, color) in enumerate(zip(sp["times"], colors, strict=True)):
            ax.loglog(k, _finite(sp["truth"][field][i]), color=color, label=f"truth, t = {time:.3g}")
            ax.loglog(k, _finite(sp["pred"][field][i]), color=color, ls="--", label=f"prediction, t = {time:.3g}")
        ax.set(xlabel="wavenumber |k| (1 / length unit)", ylabel="E(k) (shell sum of |u_k|^2 / 2)",
               title=f"{field}: energy spectrum")
        ax.legend(fontsize=7)
    return fig


def _limits(u: np.ndarray) -> tuple[float, float]:
    return float(np.nanmin(u)), float(np.nanmax(u))


def plot_fields(pair: Pair, sample: int = 0, n_snapshots: int = 4) -> Figure:
    """1D: space-time diagrams truth | prediction | difference per field. 2D: rows truth / prediction /
    difference at `n_snapshots` times per field. Colour scales follow the truth."""
    p, t = pair.load(slice(sample, sample + 1))
    p, t = np.where(np.isfinite(p[0]), p[0], np.nan), t[0]
    ds, times = pair.true, pair.times
    nf = len(pair.fields)
    if len(pair.space) == 1:
        fig, axes = plt.subplots(nf, 3, figsize=(14, 3.6 * nf), squeeze=False, layout="constrained")
        x = ds["x"].values
        for c, (row, name) in enumerate(zip(axes, pair.fields, strict=True)):
            lo, hi = _limits(t[:, c])
            diff = p[:, c] - t[:, c]
            big = max(float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 0.0, 1e-30)
            for ax, u, title, kw in ((row[0], t[:, c], "truth", {"vmin": lo, "vmax": hi}),
                                     (row[1], p[:, c], "prediction", {"vmin": lo, "vmax": hi}),
                                     (row[2], diff, "prediction - truth", {"vmin": -big, "vmax": big})):
                im = ax.pcolormesh(x, times, u, shading="auto", cmap="RdBu_r", **kw)
                ax.set(xlabel=_label(ds, "x"), ylabel=_label(ds, "time"), title=f"{name}: {title}, sample {sample}")
                fig.colorbar(im, ax=ax, label=name)
        return fig
    frames = np.linspace(0, len(times) - 1, n_snapshots).round().astype(int)
    fig, axes = plt.subplots(3 * nf, n_snapshots, figsize=(3.2 * n_snapshots + 1.5, 8.4 * nf), squeeze=False,
                             layout="constrained")
    x, y = ds["x"].values, ds["y"].values
    for c, name in enumerate(pair.fields):
        lo, hi = _limits(t[frames, c])
        diff = p[frames, c] - t[frames, c]
        big = max(float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 0.0, 1e-30)
        for r, (kind, u, vmin, vmax) in enumerate((("truth", t[frames, c], lo, hi),
                                                   ("prediction", p[frames, c], lo, hi),
                                                   ("pred - truth", diff, -big, big))):
            row = axes[3 * c + r]
            for col, (ax, k) in enumerate(zip(row, frames, strict=True)):
                im = ax.pcolormesh(x, y, u[col], shading="auto", cmap="RdBu_r", vmin=vmin, vmax=vmax)
                ax.set(xlabel=_label(ds, "x"), title=f"{name} {kind}, t = {times[k]:.3g}", aspect="equal")
                if col == 0:
                    ax.set_ylabel(_label(ds, "y"))
            fig.colorbar(im, ax=list(row), label=name if r < 2 else f"{name} error")
    return fig


def animate_2d(pair: Pair, path: Path, sample: int = 0, fps: int = 8) -> Path:
    """GIF of a 2D sample: truth | prediction per field, at most GIF_FRAMES frames (Pillow writer)."""
    p, t = pair.load(slice(sample, sample + 1))
    p, t = np.where(np.isfinite(p[0]), p[0], np.nan), t[0]
    frames = np.unique(np.linspace(0, len(pair.times) - 1, min(GIF_FRAMES, len(pair.times))).round().astype(int))
    nf = len(pair.fields)
    fig, axes = plt.subplots(nf, 2, figsize=(6.4, 3.2 * nf + 0.4), squeeze=False)  # no per-frame layout
    images = []
    for c, row in enumerate(axes):
        lo, hi = _limits(t[:, c])
        for ax, u, kind in ((row[0], t, "truth"), (row[1], p, "prediction")):
            images.append((ax.imshow(u[frames[0], c], origin="lower", cmap="RdBu_r", vmin=lo, vmax=hi), u, c))
            ax.set(title=f"{pair.fields[c]} {kind}", xticks=[], yticks=[])
    title = fig.suptitle(" ")
    fig.tight_layout()

    def update(i: int) -> list:
        for im, u, c in images:
            im.set_data(u[frames[i], c])
        title.set_text(f"sample {sample}, t = {pair.times[frames[i]]:.3g}")
        return [im for im, _, _ in images]

    FuncAnimation(fig, update, frames=len(frames), blit=False).save(path, writer=PillowWriter(fps=fps), dpi=60)
    plt.close(fig)
    return path


def write_figures(r: dict, pair: Pair, out: Path, animate: bool = False) -> list[Path]:
    """curves.png, spectra.png, fields.png (sample 0) and, for 2D with animate, animation.gif in `out`."""
    units = r["time_units"]
    time_label = "lead time t" + ("" if units in ("", "1") else f" [{units}]") + (
        " (dimensionless)" if units == "1" else "")
    paths = []
    for name, fig in (("curves.png", plot_curves(r, time_label)), ("spectra.png", plot_spectra(r)),
                      ("fields.png", plot_fields(pair))):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)
    if animate and len(pair.space) == 2:
        paths.append(animate_2d(pair, out / "animation.gif"))
    return paths
