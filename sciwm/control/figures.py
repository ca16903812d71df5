"""Planning figures: start, goal and reached fields per case (1D lines, 2D images), the distance to the
goal against the control step, and one animation for each of the first `MAX_CASES` cases
(`sciwm.control.animation`) (matplotlib Agg). Each file is written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sciwm.control.animation import animate_case, animation_path  # noqa: E402
from sciwm.control.atomic import write_atomic  # noqa: E402
from sciwm.control.mpc import Episode  # noqa: E402
from sciwm.control.tasks import ControlTask  # noqa: E402

MAX_CASES = 4  # cases drawn in fields.png and animated


def write_figures(result: dict, cases: list[ControlTask], episodes: dict[str, list[Episode]], out: Path) -> list[Path]:
    """distance.png, fields.png and `anim_<suite>_<seed>.gif` for the first MAX_CASES cases."""
    paths = [out / "distance.png", out / "fields.png"]
    plot_distance(result, paths[0])
    plot_fields(cases[:MAX_CASES], {k: v[:MAX_CASES] for k, v in episodes.items()}, paths[1])
    for r, task in enumerate(cases[:MAX_CASES]):
        path = animation_path(out, result["suite"], task.seed)
        paths.append(animate_case(task, {n: eps[r] for n, eps in episodes.items()}, path))
    return paths


def plot_distance(result: dict, path: Path) -> None:
    """Distance to the goal after each control interval: median over cases (line), each case (faint)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for i, p in enumerate(result["planners"]):
        colour = f"C{i}"
        d = np.array([e["distances"] for e in p["episodes"]])
        for row in d:
            ax.plot(row, color=colour, alpha=0.15, lw=0.8)
        ax.plot(np.median(d, 0), color=colour, lw=2, label=p["name"])
    ax.axhline(result["tolerance"], color="k", ls=":", lw=1, label="tolerance")
    ax.set_yscale("log")
    ax.set_xlabel("control interval")
    ax.set_ylabel("||u - goal|| / ||goal||")
    ax.set_title(f"{result['suite']}: distance to goal ({result['mode']})")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_fields(cases: list[ControlTask], episodes: dict[str, list[Episode]], path: Path) -> None:
    """1D: one panel per case with start, goal and every planner's reached field. 2D: a row per case."""
    names = list(episodes)
    two_d = cases[0].system.grid.ndim == 2
    if two_d:
        cols = 2 + len(names)
        fig, axes = plt.subplots(len(cases), cols, figsize=(2.2 * cols, 2.3 * len(cases)), squeeze=False,
                                 layout="constrained")
        for r, task in enumerate(cases):
            goal = task.goal[0].cpu().numpy()
            lim = float(np.abs(goal).max()) or 1.0
            panels = [("start", task.start[0].cpu().numpy()), ("goal", goal)] + [
                (f"{n}\nd={episodes[n][r].score.distance:.2g}", episodes[n][r].score.reached[0]) for n in names]
            for c, (title, field) in enumerate(panels):
                ax = axes[r, c]
                ax.imshow(field, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(title if r == 0 or c >= 2 else title, fontsize=7)
    else:
        fig, axes = plt.subplots(len(cases), 1, figsize=(7.0, 2.4 * len(cases)), squeeze=False, layout="constrained")
        x = cases[0].system.grid.coords()[0].numpy()
        for r, task in enumerate(cases):
            ax = axes[r, 0]
            ax.plot(x, task.start[0].cpu().numpy(), color="0.6", ls="--", lw=1, label="start")
            ax.plot(x, task.goal[0].cpu().numpy(), color="k", lw=2.2, label="goal")
            for i, n in enumerate(names):
                ep = episodes[n][r]
                ax.plot(x, ep.score.reached[0], color=f"C{i}", lw=1.2, label=f"{n} (d={ep.score.distance:.2g})")
            ax.set_title(task.name, fontsize=8)
            ax.legend(fontsize=6, ncol=2)
        axes[-1, 0].set_xlabel("x")
    _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> None:
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    finally:
        plt.close(fig)
