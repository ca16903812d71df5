"""`sciwm bench`: surrogates against a ladder of classical solvers, at equal accuracy and equal cost.

    from sciwm.bench import BenchConfig, run_bench
    result = run_bench("benchmarks/configs/bench-ks1d.toml", out="bench/ks1d")  # report.md, *.png, results.json
    for v in result["verdict"]:
        print(v["sentence"])

The ladder re-solves the test set's own PDE (from the file's attributes) on coarser grids and with
larger steps; every entry runs on the same device, batch and test trajectories, timed warm and
synchronised. Rules and caveats: docs/fairness.md; config and results schema: docs/bench.md.
"""

from sciwm.bench.config import BenchConfig, LadderConfig
from sciwm.bench.ladder import Problem, Rung, default_factors, default_sizes, ladder
from sciwm.bench.pareto import cost_at_value, dominated_sentence, pareto_front, value_at_cost
from sciwm.bench.runner import run_bench

__all__ = ["BenchConfig", "LadderConfig", "Problem", "Rung", "cost_at_value", "default_factors", "default_sizes",
           "dominated_sentence", "ladder", "pareto_front", "run_bench", "value_at_cost"]
