"""Figures of trajectories: a space-time diagram for 1D fields, snapshots for 2D fields (matplotlib Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sciwm.errors import SciwmError  # noqa: E402


def _label(ds: xr.Dataset, name: str) -> str:
    """Axis label with units from the coordinate's `units` attribute ("1" means dimensionless)."""
    units = str(ds[name].attrs.get("units", ""))
    symbol = "t" if name == "time" else name
    if units in ("", "1"):
        return f"{symbol} (dimensionless)" if units == "1" else symbol
    return f"{symbol} [{units}]"


def plot_trajectory(ds: xr.Dataset, sample: int = 0, fields: list[str] | None = None,
                    n_snapshots: int = 4) -> Figure:
    """Plot one trajectory of `ds` (dims (sample, time, [y,] x)): one row per field.

    1D: a space-time diagram (x horizontal, t vertical). 2D: `n_snapshots` frames evenly spaced in time.
    """
    names = fields or [n for n, v in ds.data_vars.items()
                       if v.dims[:2] == ("sample", "time") and n != "action"]
    if not 0 <= sample < ds.sizes["sample"]:
        raise SciwmError(f"sample {sample} out of range; the data have {ds.sizes['sample']} samples")
    two_d = "y" in ds.dims
    cols = n_snapshots if two_d else 1
    fig, axes = plt.subplots(len(names), cols, figsize=(3.2 * cols + 1.5, 3.0 * len(names)), squeeze=False,
                             layout="constrained")
    t = ds["time"].values
    for row, name in zip(axes, names, strict=True):
        u = np.asarray(ds[name][sample].values)
        if not two_d:
            x = ds["x"].values
            im = row[0].pcolormesh(x, t, u, shading="auto", cmap="RdBu_r")
            row[0].set(xlabel=_label(ds, "x"), ylabel=_label(ds, "time"), title=f"{name}, sample {sample}")
            fig.colorbar(im, ax=row[0], label=name)
            continue
        frames = np.linspace(0, len(t) - 1, cols).round().astype(int)
        lo, hi = float(np.min(u[frames])), float(np.max(u[frames]))
        for col, (ax, k) in enumerate(zip(row, frames, strict=True)):
            im = ax.pcolormesh(ds["x"].values, ds["y"].values, u[k], shading="auto", cmap="RdBu_r",
                               vmin=lo, vmax=hi)
            ax.set(xlabel=_label(ds, "x"), title=f"{name}, t = {t[k]:.3g}", aspect="equal")
            if col == 0:
                ax.set_ylabel(_label(ds, "y"))
        fig.colorbar(im, ax=list(row), label=name)
    return fig
