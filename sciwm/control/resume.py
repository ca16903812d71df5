"""Finished episodes of an interrupted `sciwm plan`, kept so that `--resume` continues where it stopped.

    store = EpisodeStore.open(out, settings, resume)   # refuses a left-over or foreign store in one line
    ep = store.get(task, planner_index, label)          # None if not done yet
    store.put(planner_index, ep)                        # one file per episode, written atomically
    store.finish()                                      # results are written: the store goes

`out/episodes.partial/` holds `settings.json` (what the run is: hashes of the suite file and of its card
or data file, seeds, planners, budgets, MPC mode, models as path and checkpoint hash, device, threads)
and one `p<planner>_s<seed>.pt` per finished episode (executed actions and frames, planning time, plan
count; tensors only, read with `weights_only=True`). The score is recomputed from the frames on load, so
a kept episode scores as it did; its planning time is the one measured before the interrupt.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from sciwm.control.atomic import write_atomic
from sciwm.control.mpc import Episode
from sciwm.control.tasks import ControlTask
from sciwm.errors import SciwmError

PARTIAL = "episodes.partial"
DONE = ".episodes.done"


class EpisodeStore:
    def __init__(self, out: Path, settings: dict, exists: bool) -> None:
        self.out, self.root, self.settings, self.exists = out, out / PARTIAL, settings, exists

    @classmethod
    def open(cls, out: Path, settings: dict, resume: bool) -> EpisodeStore:
        """The store in `out`, checked against `settings`; created on the first `put`, so a run that fails
        before finishing an episode leaves nothing behind."""
        root = out / PARTIAL
        for stale in (root.with_name(PARTIAL + ".tmp"), out / DONE):  # cut off while created or removed
            shutil.rmtree(stale, ignore_errors=True)
        if not root.exists():
            return cls(out, settings, False)
        if not resume:
            raise SciwmError(f"{root}: left by an interrupted run; pass --resume to continue it, or delete it")
        try:
            kept = json.loads((root / "settings.json").read_text())
        except (OSError, ValueError):
            raise SciwmError(f"{root}: no readable settings.json; delete it to start again") from None
        changed = [k for k in settings if kept.get(k) != settings[k]]
        if changed:
            raise SciwmError(f"{root}: the interrupted run had other {', '.join(changed)}; rerun it as it was, "
                             "or delete the directory to start again")
        return cls(out, settings, True)

    def _path(self, planner: int, seed: int) -> Path:
        return self.root / f"p{planner}_s{seed}.pt"

    def get(self, task: ControlTask, planner: int, label: str) -> Episode | None:
        path = self._path(planner, task.seed)
        if not self.exists or not path.exists():
            return None
        try:
            d = torch.load(path, weights_only=True)
            frames, actions, seconds, plans = d["frames"], d["actions"], float(d["plan_seconds"]), int(d["plans"])
        except Exception as err:  # noqa: BLE001  (any unreadable file: one line, not a traceback)
            raise SciwmError(f"{path}: unreadable ({type(err).__name__}); delete it and rerun with --resume") from None
        return Episode(task.name, task.seed, label, actions.numpy(), task.score_frames(frames, actions), seconds,
                       plans, frames.numpy())

    def put(self, planner: int, ep: Episode) -> None:
        if not self.exists:  # a new run: an earlier run's results in `out` are no longer this run's
            for old in ("results.json", "plan.md"):
                (self.out / old).unlink(missing_ok=True)
            tmp = self.root.with_name(PARTIAL + ".tmp")
            tmp.mkdir(parents=True)
            (tmp / "settings.json").write_text(json.dumps(self.settings, indent=1))
            os.replace(tmp, self.root)
            self.exists = True
        d = {"frames": torch.from_numpy(ep.frames), "actions": torch.from_numpy(ep.actions),
             "plan_seconds": ep.plan_seconds, "plans": ep.plans}
        write_atomic(self._path(planner, ep.seed), lambda tmp: torch.save(d, tmp))

    def finish(self) -> None:
        """The results are written: the store goes (renamed first, so a cut-off removal is not a store)."""
        if self.exists:
            os.replace(self.root, self.out / DONE)
            shutil.rmtree(self.out / DONE)
            self.exists = False
