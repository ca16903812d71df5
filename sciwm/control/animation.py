"""One GIF per task case: the field each planner's executed plan produces in the true solver, interval by
interval, next to the goal (1D: lines of every planner, the goal and the start; 2D: images side by side
on one colour scale). Frames are the scored run (`Episode.frames`), so the last frame is `score.reached`.

    path = animate_case(task, {"cem": ep_cem, "zero": ep_zero}, out / "anim_burgers1d-reach_0.gif")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import PillowWriter  # noqa: E402
from PIL import Image  # noqa: E402

from sciwm.control.atomic import write_atomic  # noqa: E402
from sciwm.control.mpc import Episode  # noqa: E402
from sciwm.control.tasks import ControlTask  # noqa: E402

DPI = 80
FPS = 3
COLUMNS = 5  # 2D panels per row
CMAP = "RdBu_r"


class _PaletteWriter(PillowWriter):
    """PillowWriter whose frames map, without dithering, onto a fixed palette: dithered smooth fields
    compress poorly (a 2D case with 10 panels: 2.2 MB dithered, 0.6 MB on the colour map's palette)."""

    def __init__(self, palette: Image.Image, fps: int) -> None:
        super().__init__(fps=fps)
        self.palette = palette

    def grab_frame(self, **savefig_kwargs) -> None:  # noqa: ANN003
        super().grab_frame(**savefig_kwargs)
        rgb = self._frames[-1].convert("RGB")
        self._frames[-1] = rgb.quantize(palette=self.palette, dither=Image.Dither.NONE)


def _palette(cmap: str, colours: int = 64) -> Image.Image:
    """`colours` levels of the colour map, then greys (text, axes, background) up to 256 entries."""
    rgb = matplotlib.colormaps[cmap](np.linspace(0, 1, colours))[:, :3]
    greys = np.repeat(np.linspace(0, 1, 256 - colours)[:, None], 3, 1)
    image = Image.new("P", (1, 1))
    image.putpalette((np.concatenate([rgb, greys]) * 255).round().astype(np.uint8).ravel().tolist())
    return image


@dataclass
class Frame:
    """What one animation frame shows: after `interval` intervals, each planner's executed field
    `(*grid)` (first field) and its distance `d_interval` to the goal."""

    interval: int
    fields: dict[str, np.ndarray]
    distances: dict[str, float]


def case_frames(episodes: dict[str, Episode]) -> list[Frame]:
    """The `H + 1` frames of one case (frame 0 is the start), from each planner's executed run."""
    horizon = {len(ep.frames) for ep in episodes.values()}
    if len(horizon) != 1:
        raise ValueError(f"episodes of one case have different lengths {sorted(horizon)}")
    return [Frame(t, {n: ep.frames[t][0] for n, ep in episodes.items()},
                  {n: ep.score.distances[t] for n, ep in episodes.items()}) for t in range(horizon.pop())]


def animation_path(out: Path, suite: str, seed: int) -> Path:
    return out / f"anim_{re.sub(r'[^A-Za-z0-9_.-]+', '-', suite)}_{seed}.gif"


def animate_case(task: ControlTask, episodes: dict[str, Episode], path: Path) -> Path:
    """Write the case's GIF atomically (a temporary name, then rename): one frame per interval."""
    frames = case_frames(episodes)
    goal, start = task.goal[0].cpu().numpy(), task.start[0].cpu().numpy()
    two_d = goal.ndim == 2
    fig, update = (_images if two_d else _lines)(task, frames, goal, start)
    writer = _PaletteWriter(_palette(CMAP), FPS) if two_d else PillowWriter(fps=FPS)

    def write(tmp: Path) -> None:  # Pillow picks the format from the suffix, which the temporary name keeps
        # one draw per frame (FuncAnimation.save draws each twice); not `writer.saving`, whose finish() runs
        # on an interrupt too and then fails on the missing frames, masking the interrupt
        writer.setup(fig, tmp, DPI)
        with plt.rc_context({"savefig.bbox": None}):
            for i in range(len(frames)):
                update(i)
                writer.grab_frame()
        writer.finish()

    try:
        update(0)
        fig.canvas.draw()
        fig.set_layout_engine("none")  # lay out once, so the panels stay put while the titles change
        write_atomic(path, write)
    finally:
        plt.close(fig)
    return path


def _lines(task: ControlTask, frames: list[Frame], goal: np.ndarray, start: np.ndarray):  # noqa: ANN202
    """1D: start (dashed), goal (thick) and one line per planner; distances in the legend."""
    fig, ax = plt.subplots(figsize=(7.2, 3.4), layout="constrained")
    x = task.system.grid.coords()[0].numpy()
    ax.plot(x, start, color="0.6", ls="--", lw=1, label="start")
    ax.plot(x, goal, color="k", lw=2.2, label="goal")
    names = list(frames[0].fields)
    lines = [ax.plot(x, frames[0].fields[n], color=f"C{i}", lw=1.2, label=n)[0] for i, n in enumerate(names)]
    every = np.concatenate([goal, start, *(f for fr in frames for f in fr.fields.values())])
    lo, hi = np.nanmin(every), np.nanmax(every)
    pad = 0.05 * (hi - lo or 1.0)
    ax.set(xlim=(x[0], x[-1]), ylim=(lo - pad, hi + pad), xlabel="x")
    legend = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    texts = legend.get_texts()[2:]

    def update(i: int) -> list:
        fr = frames[i]
        for line, text, n in zip(lines, texts, names, strict=True):
            line.set_ydata(fr.fields[n])
            text.set_text(f"{n}: d = {fr.distances[n]:.3f}")
        ax.set_title(f"{task.name}: interval {fr.interval}/{len(frames) - 1}", fontsize=9)
        return lines

    return fig, update


def _images(task: ControlTask, frames: list[Frame], goal: np.ndarray, start: np.ndarray):  # noqa: ANN202
    """2D: the goal, then one panel per planner, one symmetric colour scale (the goal's and start's range)."""
    names = list(frames[0].fields)
    n = 1 + len(names)
    cols = min(n, COLUMNS)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows + 0.3), squeeze=False,
                             layout="constrained")
    lim = float(max(np.abs(goal).max(), np.abs(start).max())) or 1.0
    kw = {"origin": "lower", "cmap": CMAP, "vmin": -lim, "vmax": lim, "interpolation": "nearest"}
    for ax in axes.flat:
        ax.set_axis_off()
    axes.flat[0].imshow(goal, **kw)
    axes.flat[0].set_title("goal", fontsize=8)
    images = [axes.flat[1 + i].imshow(frames[0].fields[m], **kw) for i, m in enumerate(names)]
    title = fig.suptitle(" ", fontsize=9)

    def update(i: int) -> list:
        fr = frames[i]
        for k, (im, m) in enumerate(zip(images, names, strict=True)):
            im.set_data(fr.fields[m])
            axes.flat[1 + k].set_title(f"{m}\nd = {fr.distances[m]:.3f}", fontsize=8)
        title.set_text(f"{task.name}: interval {fr.interval}/{len(frames) - 1}")
        return images

    return fig, update
