"""Sweeps: a scenario run for every combination of some settings, several replications each.

    cmpsim sweep scenarios/priority-what-if.yaml --set service.fulfilment.workers=11,16 --replications 5

Each (combination, replication) is one task: load the scenario with the combination's settings and
the replication's seed (the scenario's seed + replication number, the same for every combination, so
that combinations are compared on the same random numbers), run it in a folder of its own, keep its
key figures (`cmpsim.kpis`). Tasks run one after another (`workers=1`), on a Dask cluster of local
worker processes (the default), or on a real Dask cluster given its scheduler address: the same task
function in every case, so the same seeds give the same figures however the sweep ran. The results
— one row per run (money exact), and per combination the mean, standard deviation and 95 %
confidence interval of each figure — are written as Parquet, ready for a notebook chart.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from cmpsim.errors import InputError

CONFIDENCE = 0.95
RUN_DAYS_MAX = 3660


@dataclass(frozen=True)
class Task:
    """One run of the sweep: where the scenario is, what to set, which seed, where to run."""

    scenario: str
    settings: tuple[tuple[str, Any], ...]
    combination: int
    replication: int
    seed: int
    days: int | None
    keep: str | None  # folder to keep the run in, or None: a temporary folder, removed after


def parse_settings(texts: list[str]) -> dict[str, list[Any]]:
    """`--set key=v1,v2` texts as {dotted key: [values]}; values read as YAML scalars (12, 0.5, text)."""
    out: dict[str, list[Any]] = {}
    for text in texts:
        key, sep, values = text.partition("=")
        if not sep or not key or not values:
            raise InputError("argument --set", "", "key=value[,value…], like service.fulfilment.workers=11,16",
                             repr(text))
        try:
            out[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
        except yaml.YAMLError:
            raise InputError("argument --set", key.strip(), "values YAML reads (numbers, words, quoted text)",
                             repr(values)) from None
    return out


def nested(settings: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """{'a.b': 1} as {'a': {'b': 1}}, the shape of scenario overrides."""
    out: dict[str, Any] = {}
    for key, value in settings:
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def plan(scenario: str | Path, settings: dict[str, list[Any]], replications: int, days: int | None = None,
         keep: str | Path | None = None) -> list[Task]:
    """Every task of the sweep, checking each combination's scenario before anything runs."""
    from cmpsim.runs import prepare
    from cmpsim.scenario import load

    if replications < 1 or replications > 10_000:
        raise InputError("argument --replications", "", "a whole number from 1 to 10000", repr(replications))
    keys = list(settings)
    combos = list(itertools.product(*(settings[k] for k in keys))) if keys else [()]
    base_seed = load(scenario).seed
    tasks = []
    for c, values in enumerate(combos):
        chosen = tuple(zip(keys, values, strict=True))
        prepare(load(scenario, overrides=nested(chosen)), days=days)  # a bad value fails here, with its path
        for r in range(replications):
            tasks.append(Task(str(scenario), chosen, c, r, base_seed + r, days,
                              str(Path(keep) / f"c{c:03d}-r{r:03d}") if keep else None))
    return tasks


def run_task(task: Task) -> dict[str, Any]:
    """Run one task and return its row: settings, seed, key figures. The same wherever it runs."""
    import cmpsim
    from cmpsim.kpis import kpis
    from cmpsim.scenario import load

    scenario = load(task.scenario, overrides=nested(task.settings))
    folder = Path(task.keep) if task.keep else Path(tempfile.mkdtemp(prefix="cmpsim-sweep-")) / "run"
    try:
        with cmpsim.run(scenario, seed=task.seed, days=task.days, out=folder) as run:
            figures = kpis(run.con)
    finally:
        if not task.keep:
            shutil.rmtree(folder.parent, ignore_errors=True)
    return {"combination": task.combination, "replication": task.replication, "seed": task.seed,
            **{k: v for k, v in task.settings}, **figures}


def execute(tasks: list[Task], workers: int = 2, scheduler: str | None = None) -> pl.DataFrame:
    """Run the tasks: in this process (workers=1, no scheduler), on `workers` local Dask worker
    processes, or on the Dask cluster at `scheduler`. Rows come back in task order."""
    if scheduler is None and workers <= 1:
        rows = [run_task(t) for t in tasks]
    else:
        rows = _on_dask(tasks, workers, scheduler)
    return pl.DataFrame(rows, infer_schema_length=None).sort("combination", "replication")


def _on_dask(tasks: list[Task], workers: int, scheduler: str | None) -> list[dict[str, Any]]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            return client.gather(client.map(run_task, tasks, pure=False))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        return client.gather(client.map(run_task, tasks, pure=False))


def summarise(results: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per combination and figure: runs, mean, standard deviation, and the 95 % confidence interval
    of the mean (Student's t; null with a single replication)."""
    from scipy.stats import t

    figures = [c for c in results.columns if c not in {"combination", "replication", "seed", *keys}
               and results[c].dtype.is_numeric()]
    # Statistics of a sample are estimates, not amounts: money becomes a float here, and only here.
    long = results.with_columns(pl.col(figures).cast(pl.Float64)).unpivot(
        index=["combination", *keys], on=figures, variable_name="figure", value_name="value")
    stats = long.group_by(["combination", *keys, "figure"], maintain_order=True).agg(
        runs=pl.col("value").count(), mean=pl.col("value").mean(), sd=pl.col("value").std())
    quantile = {n: float(t.ppf((1 + CONFIDENCE) / 2, n - 1)) if n > 1 else None for n in stats["runs"].unique()}
    half = pl.col("runs").replace_strict(quantile, return_dtype=pl.Float64) * pl.col("sd") / pl.col("runs").sqrt()
    return stats.with_columns(ci_low=pl.col("mean") - half, ci_high=pl.col("mean") + half).sort(
        "combination", "figure")


def write(results: pl.DataFrame, summary: pl.DataFrame, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    results.write_parquet(out / "results.parquet")
    summary.write_parquet(out / "summary.parquet")
    return out / "results.parquet", out / "summary.parquet"

