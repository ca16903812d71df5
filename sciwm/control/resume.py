"""Finished episodes of an interrupted `sciwm plan`, kept so that `--resume` continues where it stopped.

    store = EpisodeStore.open(out, settings, resume)   # refuses a stale or foreign store in one line
    ep = store.get(task, planner_index, label)          # None if not done yet
    store.put(planner_index, ep)                        # one file per episode, written atomically
    store.finish()                                      # results are written: the store goes

`out/episodes.partial/` holds `settings.json` (what the run is: suite file hash, seeds, planners, budgets,
MPC mode, models) and one `p<planner>_s<seed>.pt` per finished episode (executed actions and frames,
planning time, plan count; tensors only, read with `weights_only=True`). The score is recomputed from
the frames on load, so a resumed episode is the finished one exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from sciwm.control.mpc import Episode
from sciwm.control.tasks import ControlTask
from sciwm.errors import SciwmError

PARTIAL = "episodes.partial"


class EpisodeStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, out: Path, settings: dict, resume: bool) -> EpisodeStore:
        root = out / PARTIAL
        if root.exists():
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
        else:
            root.mkdir(parents=True)
            _atomic(root / "settings.json", lambda p: p.write_text(json.dumps(settings, indent=1)))
        return cls(root)

    def _path(self, planner: int, seed: int) -> Path:
        return self.root / f"p{planner}_s{seed}.pt"

    def get(self, task: ControlTask, planner: int, label: str) -> Episode | None:
        path = self._path(planner, task.seed)
        if not path.exists():
            return None
        try:
            d = torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001  (any unreadable file: one line, not a traceback)
            raise SciwmError(f"{path}: unreadable ({type(err).__name__}); delete it and rerun with --resume") from None
        frames, actions = d["frames"], d["actions"]
        return Episode(task.name, task.seed, label, actions.numpy(), task.score_frames(frames, actions),
                       float(d["plan_seconds"]), int(d["plans"]), frames.numpy())

    def put(self, planner: int, ep: Episode) -> None:
        d = {"frames": torch.from_numpy(ep.frames), "actions": torch.from_numpy(ep.actions),
             "plan_seconds": ep.plan_seconds, "plans": ep.plans}
        _atomic(self._path(planner, ep.seed), lambda p: torch.save(d, p))

    def finish(self) -> None:
        shutil.rmtree(self.root)


def _atomic(path: Path, write) -> None:  # noqa: ANN001
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
