"""`run_suite`: every planner on every case of a task suite, executed in the true solver; results.json,
plan.md and figures.

    result = run_suite("benchmarks/tasks/burgers1d-reach.toml", ["cem", "cem-solver", "zero"],
                       model="runs/burgers-latent", out="plans/burgers")
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from sciwm.control.atomic import write_atomic
from sciwm.control.mpc import Episode, run_episode
from sciwm.control.multiscale import MultiScaleWorld
from sciwm.control.planners import coarse_solver, parse_planner, planner_budget
from sciwm.control.resume import EpisodeStore
from sciwm.control.system import ControlSystem
from sciwm.control.tasks import SuiteSpec
from sciwm.control.worlds import LatentWorld, SolverWorld, World
from sciwm.errors import SciwmError

RESULTS_VERSION = 2  # 2: a planner's "budget" is the rollouts it spent per plan (1: the budget asked for)


def run_suite(tasks: str | Path, planners: Sequence[str], out: str | Path, model: str | Path | None = None,
              budget: int = 512, replan_every: int = 0, device: str = "cpu",
              log: Callable[[str], None] | None = None, coarse_model: str | Path | None = None,
              resume: bool = False) -> dict:
    """Run `planners` (names as in `parse_planner`, each optionally with its own budget: `grad/16`) on the
    suite `tasks`; write `out`; return the results. `*-multiscale` planners plan with `coarse_model`
    (time_stride s > 1) and refine with `model`. Each finished episode is kept in `out/episodes.partial/`
    until the results are written; `resume` continues an interrupted run of the same settings."""
    spec = SuiteSpec.load(tasks)
    if budget < 1:
        raise SciwmError(f"--budget {budget}: need at least 1 rollout per plan")
    parsed, seen = [], {}
    for spec_ in planners:
        base, own = planner_budget(spec_, budget)
        label = f"{base}/{own}" if "/" in spec_ else base
        planner, where = parse_planner(base)
        same = (base.partition("-")[0], where, planner.rollouts(own))  # grad/8,grad/16 differ; cem,cem/512 not
        if same in seen:
            raise SciwmError(f"planners {seen[same]!r} and {label!r} are the same planner at the same budget; "
                             "give each once")
        seen[same] = label
        parsed.append((label, planner, where, own))
    wheres = {where for _, _, where, _ in parsed}
    if wheres & {"latent", "multiscale"} and model is None:
        raise SciwmError("latent planners (" + ", ".join(n for n, _, w, _ in parsed if not w.startswith("solver")) +
                         ") need --model RUN (a trained world model: latent_fno, jepa, fno, tfno or unet)")
    if "multiscale" in wheres and coarse_model is None:
        raise SciwmError("multiscale planners need --coarse-model RUN (a world model trained with "
                         "[data] time_stride = s > 1) as well as --model RUN (stride 1)")
    budgets = {name: planner.rollouts(own) for name, planner, _, own in parsed}  # what was spent
    out = Path(out)
    store = EpisodeStore.open(out, _settings(spec, budgets, replan_every, (model, coarse_model), device), resume)
    cases = spec.tasks(device)
    worlds = _worlds(cases[0].system, wheres, model, coarse_model, device)
    out.mkdir(parents=True, exist_ok=True)
    episodes: dict[str, list[Episode]] = {name: [] for name, _, _, _ in parsed}
    for task in cases:
        for i, (name, planner, where, own) in enumerate(parsed):
            ep = kept = store.get(task, i, name)
            if ep is None:
                ep = run_episode(task, planner, worlds[where], own, replan_every, label=name)
                store.put(i, ep)
            episodes[name].append(ep)
            if log:
                log(f"{task.name} {name}: distance {ep.score.distance:.3g} (start {ep.score.distances[0]:.3g}), "
                    f"effort {ep.score.effort:.3g}, {ep.plan_seconds:.2f} s planning"
                    + (" (kept from the interrupted run)" if kept else ""))
    result = _result(spec, (model, coarse_model), budget, budgets, replan_every, episodes)
    from sciwm.control.figures import write_figures

    result["figures"] = [p.name for p in write_figures(result, cases, episodes, out)]
    write_results(result, out / "results.json")  # last, and each file whole or absent (temporary name, rename)
    text = markdown(result)
    write_atomic(out / "plan.md", lambda tmp: tmp.write_text(text))
    store.finish()
    return result


def _worlds(system: ControlSystem, wheres: set[str], model: str | Path | None, coarse_model: str | Path | None,
            device: str) -> dict[str, World | MultiScaleWorld]:
    worlds: dict[str, World | MultiScaleWorld] = {"solver": SolverWorld(system)}
    for where in sorted(w for w in wheres if w.startswith("solver@")):  # coarse solvers in the loop
        worlds[where] = SolverWorld(system.coarsened(*coarse_solver(where)), name=where)
    if wheres & {"latent", "multiscale"}:
        from sciwm.checkpoint import load_run

        worlds["latent"] = LatentWorld(load_run(model, device), system)
        if "multiscale" in wheres:
            worlds["multiscale"] = MultiScaleWorld(worlds["latent"], LatentWorld(load_run(coarse_model, device),
                                                                                  system))
    return worlds


def _summary(eps: list[Episode]) -> dict:
    d = [e.score.distance for e in eps]
    return {"success_rate": sum(e.score.success for e in eps) / len(eps), "distance_mean": statistics.fmean(d),
            "distance_median": statistics.median(d), "effort_mean": statistics.fmean(e.score.effort for e in eps),
            "plan_seconds_mean": statistics.fmean(e.plan_seconds for e in eps), "episodes": len(eps)}


def _result(spec: SuiteSpec, models: tuple[str | Path | None, str | Path | None], budget: int,
            budgets: dict[str, int], replan_every: int, episodes: dict[str, list[Episode]]) -> dict:
    planners = []
    for name, eps in episodes.items():
        planners.append({"name": name, "budget": budgets[name], "summary": _summary(eps), "episodes": [
            {"task": e.task, "seed": e.seed, "distance": e.score.distance, "effort": e.score.effort,
             "success": bool(e.score.success), "plan_seconds": e.plan_seconds, "plans": e.plans,
             "distances": e.score.distances, "actions": np.asarray(e.actions, np.float64).round(6).tolist()}
            for e in eps]})
    return {"format": "sciwm-plan", "version": RESULTS_VERSION, "suite": spec.name, "tasks_file": str(spec.source),
            "model": _str(models[0]), "coarse_model": _str(models[1]), "budget": budget, "replan_every": replan_every,
            "mode": "open loop" if replan_every <= 0 else f"MPC, re-plan every {replan_every} interval(s)",
            "horizon": spec.horizon, "hold": spec.hold, "tolerance": spec.tolerance,
            "effort_weight": spec.effort_weight, "seeds": list(spec.seeds), "planners": planners}


def _settings(spec: SuiteSpec, budgets: dict[str, int], replan_every: int,
              models: tuple[str | Path | None, str | Path | None], device: str) -> dict:
    """What a resumed run must share with the interrupted one (`EpisodeStore`)."""
    return {"tasks": _sha256(spec.source), "system": _sha256(spec.card or spec.data), "seeds": list(spec.seeds),
            "planners": list(budgets), "budgets": list(budgets.values()), "replan_every": replan_every,
            "model": _run_id(models[0]), "coarse_model": _run_id(models[1]), "device": str(device),
            "threads": torch.get_num_threads()}


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run_id(run: str | Path | None) -> list[str] | None:
    """A run as a resumed plan must find it again: its resolved path and its checkpoint's hash."""
    if run is None:
        return None
    ckpt = Path(run) / "checkpoint.pt"
    return [str(Path(run).resolve()), _sha256(ckpt) if ckpt.is_file() else "no checkpoint"]


def _str(path: str | Path | None) -> str | None:
    return None if path is None else str(path)


def write_results(result: dict, path: str | Path) -> None:
    text = json.dumps(result, indent=1)
    write_atomic(Path(path), lambda tmp: tmp.write_text(text))


def read_results(path: str | Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SciwmError(f"{path}: not a readable results file ({err})") from None
    if not isinstance(result, dict) or result.get("format") != "sciwm-plan":
        raise SciwmError(f"{path}: not a sciwm plan results file")
    return result


def reference(result: dict) -> str | None:
    """The planner with the true (full) solver in the loop that others are timed against: the first
    `<method>-solver[/B]` in the order given, or None."""
    return next((p["name"] for p in result["planners"] if p["name"].partition("/")[0].endswith("-solver")), None)


def speedup(result: dict, name: str) -> float:
    """Planning time per episode of the reference planner over that of `name` (inf for a planner that took
    no measurable time)."""
    times = {p["name"]: p["summary"]["plan_seconds_mean"] for p in result["planners"]}
    t = times[name]
    return times[reference(result)] / t if t > 0 else float("inf")


def markdown(result: dict) -> str:
    """plan.md: the settings and one row per planner."""
    lines = [f"# Planning: {result['suite']}", "",
             f"Tasks `{result['tasks_file']}`, {len(result['seeds'])} cases, horizon {result['horizon']} intervals "
             f"(score: mean relative L2 distance over the last {result['hold']}), success below "
             f"{result['tolerance']:g}; {result['mode']}; budget: rollouts "
             f"{'spent' if result.get('version', 1) >= 2 else 'asked for'} per plan (`--budget` "
             f"{result['budget']} unless the planner's name sets its own, `name/B`, in whole rounds of its "
             "population or restarts); "
             f"model `{result['model']}`" + (f", coarse model `{result['coarse_model']}`"
                                              if result.get("coarse_model") else "") +
             ". Every plan executed in the true solver.", "",
             "| planner | budget | success | distance (mean) | distance (median) | effort | planning s / episode |"
             + (f" speed-up vs {ref} |" if (ref := reference(result)) else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if ref else "")]
    for p in result["planners"]:
        s = p["summary"]
        spent = "—" if p["name"] == "zero" else p.get("budget", result["budget"])
        lines.append(f"| {p['name']} | {spent} | {s['success_rate']:.0%} | "
                     f"{s['distance_mean']:.3g} | {s['distance_median']:.3g} | {s['effort_mean']:.3g} | "
                     f"{s['plan_seconds_mean']:.3g} |"
                     + ((" — |" if p["name"] == "zero" else f" {speedup(result, p['name']):.3g}x |") if ref else ""))
    lines += ["", "Planner names: `<method>` plans in the world model's latent space, `<method>-solver` with the "
              "true solver in the loop (`-solver@n[:dt]`: the solver on n points per dim, step dt), "
              "`<method>-multiscale` with the coarse model over the horizon and the model "
              "refining the first coarse interval; `zero` applies no forcing. Distance = ||u - goal|| / ||goal||; "
              "effort = mean squared action.", ""]
    figures = result.get("figures", [])
    lines += [f"![{f}]({f})" for f in figures if not f.endswith(".gif")]
    gifs = [f"[{f}]({f})" for f in figures if f.endswith(".gif")]
    if gifs:
        lines += ["", "Animations (executed runs, interval by interval): " + ", ".join(gifs)]
    return "\n".join(lines) + "\n"
