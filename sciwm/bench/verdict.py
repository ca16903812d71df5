"""The verdict of a bench result: Pareto fronts of the ladder and, per surrogate, plain sentences.

`verdicts(result)` reads the `entries` of a result dict (see runner.py) and returns its `pareto` and
`verdict` parts; the arithmetic lives in pareto.py.
"""

from __future__ import annotations

import math

from sciwm.bench.pareto import (
    Estimate,
    break_even,
    cost_at_value,
    dominated_sentence,
    dominating,
    pareto_front,
    ratio,
    speedup,
    value_at_cost,
)

FLIP = {"": "", "at least": "at most", "at most": "at least", "n/a": "n/a"}


def metric_value(entry: dict, metric: str, threshold: str) -> float:
    """The accuracy an entry is ranked by, as "lower is better"."""
    if metric == "nrmse":
        return entry["at_horizon"]["nrmse_median"]
    return -entry["correlation_time"][threshold]["median"]


def metric_label(metric: str, settings: dict) -> str:
    if metric == "nrmse":
        return f"median nRMSE at t = {settings['horizon_time']:g}"
    return f"median correlation time (< {settings['threshold']:g})"


def _show(metric: str, v: float | Estimate) -> str:
    if isinstance(v, Estimate):
        if v.bound == "n/a" or not math.isfinite(v.value):
            return "n/a"
        return (v.bound + " " if v.bound else "") + _show(metric, v.value)
    return f"{v:.3g}" if metric == "nrmse" else f"{-v:.3g}"


def verdicts(result: dict) -> dict:
    """{"pareto": {metric: front}, "verdict": [per surrogate and metric]}, the primary metric first."""
    settings = result["settings"]
    thr = f"{settings['threshold']:g}"
    solvers = [e for e in result["entries"] if e["kind"] == "solver"]
    surrogates = [e for e in result["entries"] if e["kind"] == "surrogate"]
    costs = [e["cost"]["s_per_time_unit"] for e in solvers]
    metrics = [settings["accuracy"]] + [m for m in ("nrmse", "correlation_time") if m != settings["accuracy"]]
    pareto, verdict = {}, []
    for metric in metrics:
        values = [metric_value(e, metric, thr) for e in solvers]
        front = pareto_front(costs, values)
        fc, fv = [costs[i] for i in front], [values[i] for i in front]
        log = metric == "nrmse"
        pareto[metric] = {"label": metric_label(metric, settings), "front": [solvers[i]["name"] for i in front],
                          "costs": fc, "values": [v if log else -v for v in fv]}
        for s in surrogates:
            item = _one(s, metric, settings, solvers, costs, values, fc, fv, log)
            if metric == settings["accuracy"]:
                item["break_even"] = _break_even(s, solvers, result, item)
            verdict.append(item)
    return {"pareto": pareto, "verdict": verdict}


def _one(s: dict, metric: str, settings: dict, solvers: list[dict], costs: list[float], values: list[float],
         fc: list[float], fv: list[float], log: bool) -> dict:
    label = metric_label(metric, settings)
    c, v = s["cost"]["s_per_time_unit"], metric_value(s, metric, f"{settings['threshold']:g}")
    eq = cost_at_value(fc, fv, v, log)
    sp = speedup(eq, c)
    at = value_at_cost(fc, fv, c, log)
    dom = dominating(costs, values, c, v)
    if dom:
        i = min(dom, key=lambda j: costs[j])
        spread = max(s["cost"]["spread"], solvers[i]["cost"]["spread"])
        sentence = dominated_sentence(s["name"], solvers[i]["name"].replace("solver ", "solver at "),
                                      c / costs[i], label, _show(metric, values[i]), _show(metric, v),
                                      noisy=c / costs[i] < 1 + spread, tie=values[i] == v)
    elif sp.bound == "n/a":
        sentence = f"{s['name']}: no stable solver rung to compare with."
    elif sp.value > 1 or sp.bound == "at least":
        sentence = (f"{s['name']} is {sp.bound + ' ' if sp.bound else ''}{ratio(sp.value)} faster than the "
                    f"solver ladder at equal {label} "
                    f"({_show(metric, v)}); at its cost the ladder reaches {_show(metric, at)}.")
    else:
        sentence = (f"{s['name']} is slower than the solver ladder at equal {label} ({_show(metric, v)}): the "
                    f"interpolated front needs {1 / sp.value:.3g}x less cost, though no single rung is both "
                    "cheaper and more accurate.")
    if metric == "correlation_time" and s["correlation_time"][f"{settings['threshold']:g}"]["censored_fraction"] >= 0.5:
        sentence += (" (Censored: the surrogate's median correlation time is the horizon, a lower bound; "
                     "lengthen `frames` to separate the entries.)")
    return {"entry": s["name"], "metric": metric, "label": label, "value": _show(metric, v),
            "speedup_at_equal_accuracy": sp.value, "speedup_bound": sp.bound,
            "solver_value_at_equal_cost": None if at.bound == "n/a" else (at.value if log else -at.value),
            "solver_value_bound": at.bound, "dominated_by": [solvers[i]["name"] for i in dom],
            "sentence": sentence}


def _break_even(s: dict, solvers: list[dict], result: dict, item: dict) -> dict | None:
    """Rollouts after which training (+ data generation, estimated from the top rung) is repaid."""
    if not s.get("training"):
        return None
    p = result["problem"]
    top = next((e for e in solvers if e["settings"]["n"] == p["n"] and
                math.isclose(e["settings"]["dt"], p["dt_solver"], rel_tol=1e-9)), None)
    gen, note = 0.0, "data generation not counted (no top rung or no training file)"
    if top is not None and s.get("train_set"):
        gen = top["cost"]["s_per_time_unit"] * s["train_set"]["samples"] * s["train_set"]["time_per_sample"]
        note = (f"data generation estimated as the top rung's cost x {s['train_set']['samples']} training "
                f"trajectories x {s['train_set']['time_per_sample']:g} time units (burn-in included), at the "
                f"ladder's precision {top['settings']['precision']} (the data's: {p['data_precision']})")
    overhead = s["training"]["time_s"] + gen
    solver_cost = item["speedup_at_equal_accuracy"] * s["cost"]["s_per_time_unit"]
    n = None
    if math.isfinite(solver_cost):
        n = break_even(overhead, solver_cost, s["cost"]["s_per_time_unit"],
                       result["settings"]["simulated_time_per_rollout"])
    return {"rollouts": n, "bound": FLIP[item["speedup_bound"]] if n is not None else "",
            "training_s": s["training"]["time_s"], "generation_s": gen, "note": note}
