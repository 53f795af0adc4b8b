"""Where a run's time goes in Python: a shipped scenario run under a sampling profiler (pyinstrument).

Prints the run's wall time, the time by what spent it — the DuckDB statements (the time of a call
into DuckDB's C code counts to the line of cmpsim that made it, so `benchmarks/statements.py` gives
the exact figure), polars, rendering (jinja2, weasyprint, e-mail), files (JSON, schemas,
encryption), the SimPy clock, cmpsim's own Python — then the steps and the functions that took most.
`--html FILE` also writes pyinstrument's interactive call tree.

    .venv/bin/python benchmarks/profile.py                          # the baseline, 3 days
    .venv/bin/python benchmarks/profile.py --scenario priority-what-if --days 3 --html profile.html
    .venv/bin/python benchmarks/profile.py --orders 100000 --days 3      # the pipeline at 1M orders' rate
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import chosen_scenario, render, scenario_options

RENDERING = "rendering (jinja2, weasyprint, e-mail)"
FILES = "files (JSON, schemas, encryption)"
# The library a sample's innermost frame belongs to, by a part of its file's path (first match).
LIBRARIES = (
    ("duckdb", "DuckDB (its Python layer)"),
    ("polars", "polars"), ("pyarrow", "polars"), ("PyLazyFrame", "polars"), ("PyDataFrame", "polars"),
    ("PySeries", "polars"), ("PyExpr", "polars"), ("concat_df", "polars"),
    ("jinja2", RENDERING), ("weasyprint", RENDERING), ("pydyf", RENDERING), ("tinycss2", RENDERING),
    ("cssselect2", RENDERING), ("fontTools", RENDERING), ("html5lib", RENDERING), ("email/", RENDERING),
    ("markupsafe", RENDERING),
    ("json", FILES), ("jsonschema", FILES), ("cryptography", FILES), ("pathlib", FILES),
    ("shutil", FILES), ("BufferedReader", FILES), ("BufferedWriter", FILES), ("posix", FILES),
    ("simpy", "the SimPy clock"), ("numpy", "numpy"),
)
OWN = "cmpsim (its Python, and the DuckDB calls its lines make)"
TOP = 15


def library(path: str, function: str) -> str:
    where = f"{path}:{function}"
    for part, name in LIBRARIES:
        if part in where:
            return name
    return OWN if "cmpsim" in path else "Python built-ins, imports and the rest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scenario_options(parser)
    parser.add_argument("--html", type=Path, help="also write the interactive call tree here")
    args = parser.parse_args()

    from pyinstrument import Profiler

    import cmpsim
    from cmpsim import engine

    steps: Counter[str] = Counter()
    executed = engine.Simulation.execute

    def execute(self, step, *a, **kw):  # what each step took, profiler included
        began = time.perf_counter()
        try:
            return executed(self, step, *a, **kw)
        finally:
            steps[step.name] += time.perf_counter() - began

    engine.Simulation.execute = execute
    name, scenario = chosen_scenario(args)
    profiler = Profiler(interval=0.001)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        profiler.start()
        cmpsim.run(scenario, out=Path(folder) / "run").close()
        profiler.stop()
        wall = time.perf_counter() - began

    by_library: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    frames = [profiler.last_session.root_frame()]
    while frames:
        frame = frames.pop()
        frames.extend(frame.children)
        if frame.total_self_time and not frame.is_synthetic:  # a frame's own time includes its [self] samples
            path = frame.file_path_short or ""
            by_library[library(path, frame.function)] += frame.total_self_time
            by_function[f"{frame.function} ({path.lstrip('./')})"] += frame.total_self_time
    sampled = sum(by_library.values())

    def table(counts: Counter[str], head: str, top: int) -> str:
        return render([head, "s", "%"], [[name, f"{s:.1f}", f"{100 * s / sampled:.0f}"]
                                         for name, s in counts.most_common(top)])

    print(f"{name}, {args.days} days: run {wall:.1f} s under the profiler ({sampled:.1f} s sampled)")
    print(table(by_library, "what spent it", len(by_library)))
    print()
    print(table(steps, "step (wall, profiler included)", TOP))
    print()
    print(table(by_function, "function (its own time and the C calls it makes)", TOP))
    if args.html:
        args.html.write_text(profiler.output_html())
        print(f"\ncall tree: {args.html}")


if __name__ == "__main__":
    main()
