"""Scoring speed on HumanEval+ and MBPP+: this package against `evalplus.evaluate`, same samples.

The samples: every task's canonical solution, and for every third task a second sample that is
wrong (returns None), so both passing and failing paths are timed. Each side runs cold (its
expected outputs computed from scratch into an empty cache) and warm (cache kept). EvalPlus runs
offline from the same dataset files (HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH) with its own
default parallelism (cores / 2) and with `--parallel` equal to ours; the two sets of verdicts
are compared sample by sample.

    python bench/bench_evaluation.py --benchmarks PATH [--evalplus-python /venv/bin/python]

EvalPlus is not a dependency: install it in a separate virtual environment
(`python -m venv /tmp/ep && /tmp/ep/bin/pip install evalplus`) and pass its interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from selfcodealign.evaluation.data import load_dataset
from selfcodealign.evaluation.score import read_samples, score
from selfcodealign.execution.sandbox import LocalSandbox

# Tasks where evalplus 0.3.1 itself is wrong, so a differing verdict is expected.
KNOWN = {"HumanEval/32": "evalplus 0.3.1 fails every find_zero solution, the canonical one too: "
                         "its special check `continue`s past the per-input progress counter",
         "Mbpp/255": "evalplus fails the canonical solution's plus inputs under load (outputs of "
                     "up to 1.6 million tuples); it passes them when checking this task alone",
         "Mbpp/392": "evalplus fails the canonical solution's plus inputs under load (per-input "
                     "time limits); it passes them when checking this task alone"}


def write_samples(name: str, folder: Path, benchmark_dir: str) -> Path:
    dataset = load_dataset(name, benchmark_dir)
    path = folder / f"{name}.jsonl"
    with path.open("w") as fh:
        for i, problem in enumerate(dataset.problems.values()):
            fh.write(json.dumps({"task_id": problem.task_id, "solution": problem.reference}) + "\n")
            if i % 3 == 0:
                wrong = f"def {problem.entry_point}(*args):\n    return None\n"
                fh.write(json.dumps({"task_id": problem.task_id, "solution": wrong}) + "\n")
    return path


def ours(name: str, samples: Path, benchmark_dir: str, cache: Path, workers: int
         ) -> tuple[float, dict[str, list[tuple[str, str]]]]:
    dataset = load_dataset(name, benchmark_dir)
    rows, _ = read_samples(samples, dataset)
    start = time.perf_counter()
    with LocalSandbox(workers=workers) as box:
        results = score(dataset, rows, samples.with_suffix(".ours.json"), box=box,
                        cache_dir=cache, show_progress=False)
    took = time.perf_counter() - start
    return took, {t: [(r["base_status"], r["plus_status"]) for r in v]
                  for t, v in results["eval"].items()}


def evalplus(python: str, name: str, samples: Path, benchmark_dir: str, cache: Path,
             parallel: int | None) -> tuple[float, dict[str, list[tuple[str, str]]]]:
    files = {"humaneval": "HumanEvalPlus.jsonl.gz", "mbpp": "MbppPlus.jsonl.gz"}
    env = dict(os.environ, XDG_CACHE_HOME=str(cache),
               HUMANEVAL_OVERRIDE_PATH=str(Path(benchmark_dir) / files["humaneval"]),
               MBPP_OVERRIDE_PATH=str(Path(benchmark_dir) / files["mbpp"]))
    out = samples.with_name(f"{samples.stem}_eval_results.json")  # where evalplus writes
    out.unlink(missing_ok=True)
    cmd = [python, "-m", "evalplus.evaluate", "--dataset", name, "--samples", str(samples)]
    if parallel:
        cmd += ["--parallel", str(parallel)]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    data = json.loads(out.read_text())
    return took, {t: [(r["base_status"], r["plus_status"]) for r in v]
                  for t, v in data["eval"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", required=True, help="folder with the EvalPlus files")
    parser.add_argument("--evalplus-python", default=None,
                        help="python of a venv with evalplus installed (omit to skip it)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=["humaneval", "mbpp"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in [args.only] if args.only else ["humaneval", "mbpp"]:
            samples = write_samples(name, folder, args.benchmarks)
            n = sum(1 for _ in samples.open())
            cache = folder / f"ours-{name}"
            cold, verdicts = ours(name, samples, args.benchmarks, cache, args.workers)
            warm, _ = ours(name, samples, args.benchmarks, cache, args.workers)
            print(f"{name}: {n} samples | selfcodealign cold {cold:.1f} s, warm {warm:.1f} s "
                  f"({args.workers} workers)")
            if not args.evalplus_python:
                continue
            for parallel in (args.workers,):
                ep_cache = folder / f"evalplus-{name}-{parallel}"
                ep_cold, theirs = evalplus(args.evalplus_python, name, samples, args.benchmarks,
                                           ep_cache, parallel)
                ep_warm, _ = evalplus(args.evalplus_python, name, samples, args.benchmarks,
                                      ep_cache, parallel)
                differ = [t for t in verdicts if verdicts[t] != theirs.get(t)]
                agree = len(verdicts) - len(differ)
                label = f"--parallel {parallel}" if parallel else "default parallelism"
                print(f"  evalplus.evaluate ({label}): cold {ep_cold:.1f} s, warm "
                      f"{ep_warm:.1f} s | ratio cold {ep_cold / cold:.2f}x, warm "
                      f"{ep_warm / warm:.2f}x | same verdicts on {agree}/{len(verdicts)} tasks")
                for task in differ:
                    print(f"    {task}: selfcodealign {verdicts[task]}, evalplus "
                          f"{theirs.get(task)}" + (f" (known: {KNOWN[task]})"
                                                   if task in KNOWN else ""))


if __name__ == "__main__":
    main()
