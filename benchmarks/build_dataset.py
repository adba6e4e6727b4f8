"""Build 100,000 measurement rows from synthetic submissions, side by side with the floor: the time
the same files take just to be read and parsed with json.loads on every core.

Target (issue 12): build <= 4x that floor, on the 2-core machine. A 2-core VM's speed drifts by
tens of per cent within minutes, so the floor and the build alternate (floor, build, floor, build,
...) --repeat times; each pair's ratio and the medians are printed, with where the build's time goes.
Run: python benchmarks/build_dataset.py [--measurements 100000] [--per-file 8] [--trials 7] [--repeat 3]
     [--submissions DIR]  (reuse files generated earlier: DIR/synthetic-bot/*.json, kept when given;
                           files of another generator or size: one line, nothing removed)
     [--bound]  (also build with the validator's semantic checks and the report left out: what the rest
                 of the pipeline costs, the least any tuning of those checks can bring the build to)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's packages, and the synthetic generator

import synthetic  # noqa: E402

from advisor.report import forget_drawn  # noqa: E402
from dataset_card.build import build  # noqa: E402
from ecocompute import parallel  # noqa: E402
from ecocompute.catalogue import SCHEMA_VERSION  # noqa: E402
from validator.check import check_file  # noqa: E402
from validator.run import discover  # noqa: E402

STAMP = "generated.stamp"  # among the files: eco-dataset and eco-validate read only *.json


def stamp(files: int, per_file: int, trials: int) -> str:
    """The generator's source, the schema it writes and the sizes: files of another generator time
    something else, or fail validation (a first file is checked too: the generator calls more code)."""
    source = hashlib.sha256((ROOT / "tests" / "synthetic.py").read_bytes()).hexdigest()[:16]
    return f"synthetic.py {source}; schema {SCHEMA_VERSION}; {files} files x {per_file} measurements x {trials} trials"


def generate(folder: Path, files: int, per_file: int, trials: int) -> None:
    """Write the files into ``folder`` (new), then the stamp: an interrupted run leaves no stamp."""
    start = time.perf_counter()
    folder.mkdir(parents=True)
    for i in range(files):
        doc = synthetic.submission(seed=i, n_measurements=per_file, n_trials=trials, model=i)
        (folder / f"{doc['submission_id']}.json").write_text(json.dumps(doc, sort_keys=True) + "\n")
    (folder / STAMP).write_text(stamp(files, per_file, trials) + "\n")
    print(f"generated {files} submissions in {time.perf_counter() - start:.1f} s (not timed below)")


def prepare(subs: Path, files: int, per_file: int, trials: int) -> None:
    """Generate the files under ``subs``, or reuse those a run with the same stamp generated there.
    Anything else stops the run with one line; nothing is ever removed (the folder may not be ours)."""
    folder, wanted = subs / "synthetic-bot", stamp(files, per_file, trials)
    try:
        if not folder.exists() and not folder.is_symlink():
            generate(folder, files, per_file, trials)
            return
        found = (folder / STAMP).read_text(encoding="utf-8") if (folder / STAMP).is_file() else "no stamp"
    except (OSError, UnicodeError) as exc:
        sys.exit(f"error: cannot use {subs} for the synthetic files: {type(exc).__name__}: {exc}")
    found = " ".join(found.split())[:200]
    if found != wanted:
        sys.exit(
            f"error: {folder} holds files of another generator or size ({found}; this run: {wanted}); "
            "remove it, or give --submissions a new folder, to generate them again"
        )
    first = min(folder.glob("*.json"), default=None)
    errors = [] if first is None else [f.code for f in check_file(first).findings if f.severity.value == "error"]
    if first is None or errors:
        sys.exit(
            f"error: {folder} holds no file this checkout accepts ({first}: {errors}); remove it to generate again"
        )


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the worker processes): the work done,
    which other tenants of a shared VM disturb much less than the wall time."""
    return sum(own_and_children_cpu_s())


def own_and_children_cpu_s() -> tuple[float, float]:
    """CPU seconds of this process (the build's parent: concatenating, sorting, pandera, Parquet, the
    card and its figures) and of its finished children (the workers and the report's process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def warm_page_cache(subs: Path) -> None:
    """Read every file once, untimed, before the first pair: files not in the page cache (generated
    long ago, or evicted) made the first floor read the disk and the build after it found them cached,
    a flattering ratio (the 100k floor: 5.67 s after dropping the cache, 3.49-3.70 s warm)."""
    start = time.perf_counter()
    size = sum(len(p.read_bytes()) for p in discover([subs]))
    print(f"read {size / 1e6:.0f} MB once into the page cache in {time.perf_counter() - start:.1f} s (not timed below)")


def _parse(paths: list[Path]) -> int:
    return sum(len(json.loads(p.read_bytes())["measurements"]) for p in paths)


def floor(subs: Path) -> tuple[float, int]:
    """Read and json.loads every file on every core (the build's chunks and workers, GC off as in the
    build): what any build of these files must at least spend."""
    start = time.perf_counter()
    paths = list(dict.fromkeys(p.absolute() for p in discover([subs])))
    was = gc.isenabled()
    gc.disable()
    try:
        measurements = sum(parallel.map_chunks(_parse, paths))
    finally:
        if was:
            gc.enable()
    return time.perf_counter() - start, measurements


def validate_only(subs: Path) -> float:
    """CPU seconds of eco-validate's per-file checks alone (validator.run.check_files), GC off: the
    share of the build that belongs to the validator."""
    from validator.run import check_files

    paths = list(dict.fromkeys(p.absolute() for p in discover([subs])))
    was = gc.isenabled()
    gc.disable()
    cpu = cpu_s()
    try:
        check_files(paths)
    finally:
        if was:
            gc.enable()
    return cpu_s() - cpu


@contextlib.contextmanager
def without_semantic_checks() -> Iterator[None]:
    """The build with every per-file check after the schema (provenance, statistics, physics,
    hardware, protocol, fabrication, buildable) finding nothing, and no report: files are still read,
    parsed, schema-checked, hashed, parsed into the domain model, flattened, checked by pandera and
    written. Not a build anyone should publish; a measure of where the time goes (--bound)."""
    from unittest import mock

    from dataset_card import report
    from validator import buildable, fabrication, hardware, physics, protocol, provenance, recompute

    def nothing(*_args: object, **_kwargs: object) -> list[object]:
        return []

    def no_fabrication(sub: object, _hashes: object, _file: object) -> tuple[list[object], list[list[str]]]:
        return [], [[] for _ in sub.measurements]  # type: ignore[attr-defined]

    with contextlib.ExitStack() as stack:
        for module in (provenance, recompute, physics, hardware, protocol, buildable):
            stack.enter_context(mock.patch.object(module, "check", nothing))
        stack.enter_context(mock.patch.object(fabrication, "check", no_fabrication))
        stack.enter_context(mock.patch.object(report, "write", lambda *_args: ""))
        yield


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--measurements", type=int, default=100_000)
    p.add_argument("--per-file", type=int, default=8)
    p.add_argument("--trials", type=int, default=7, help="trials per measurement (2 warm-ups + the rest measured)")
    p.add_argument("--repeat", type=int, default=3, help="floor/build pairs, each build into a fresh folder")
    p.add_argument("--submissions", type=Path, help="reuse (or create and keep) the synthetic files here")
    p.add_argument("--validator", action="store_true", help="also time eco-validate's per-file checks alone")
    p.add_argument("--bound", action="store_true", help="also build without the semantic checks and the report")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subs = a.submissions or Path(tmp) / "submissions"
        prepare(subs, a.measurements // a.per_file, a.per_file, a.trials)
        warm_page_cache(subs)
        floors, builds, floor_cpu, build_cpu, parent_cpu, validator_cpu, phases, bounds = [], [], [], [], [], [], [], []
        for i in range(a.repeat):
            cpu = cpu_s()
            floor_s, parsed = floor(subs)
            floor_cpu.append(cpu_s() - cpu)
            forget_drawn()  # a build runs once in its process: no figure copied from the build before
            (own, children), start = own_and_children_cpu_s(), time.perf_counter()
            result = build(subs, ROOT / "legacy", Path(tmp) / f"out{i}")
            builds.append(time.perf_counter() - start)
            own_after, children_after = own_and_children_cpu_s()
            parent_cpu.append(own_after - own)
            build_cpu.append(parent_cpu[-1] + children_after - children)
            floors.append(floor_s)
            phases.append(result.timings)
            if a.validator:
                validator_cpu.append(validate_only(subs))
                print(f"        validator alone: cpu {validator_cpu[-1]:.1f} s")
            print(
                f"pair {i + 1}: floor {floor_s:.2f} s, build {builds[-1]:.2f} s, ratio {builds[-1] / floor_s:.2f}; "
                f"cpu floor {floor_cpu[-1]:.1f} s, build {build_cpu[-1]:.1f} s, ratio {build_cpu[-1] / floor_cpu[-1]:.2f}"
            )
            if a.bound:
                forget_drawn()
                with without_semantic_checks():
                    start = time.perf_counter()
                    build(subs, ROOT / "legacy", Path(tmp) / f"bound{i}")
                    bounds.append(time.perf_counter() - start)
                print(f"        bound (no semantic check, no report): build {bounds[-1]:.2f} s")
        from datasets import load_dataset  # here, not at the top: the tests import this script (1 s saved)

        cache = Path(tmp) / "hf-cache"
        start = time.perf_counter()
        ds = load_dataset(str(Path(tmp) / "out0"), split="train", cache_dir=str(cache))
        load_s = time.perf_counter() - start
    floor_s, build_s = statistics.median(floors), statistics.median(builds)
    print(f"rows: {result.counts}; {os.cpu_count()} CPUs; {parsed} measurements parsed by the floor")
    print(f"floor_s={floor_s:.2f} (median) build_s={build_s:.2f} (median) ratio={build_s / floor_s:.2f} target<=4")
    ratios = [b / f for f, b in zip(floors, builds, strict=True)]
    print(f"pair ratios: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")
    cpu_ratio = statistics.median(build_cpu) / statistics.median(floor_cpu)
    print(
        f"cpu: floor {statistics.median(floor_cpu):.1f} s, build {statistics.median(build_cpu):.1f} s (medians), "
        f"ratio {cpu_ratio:.2f}"
    )
    parent = statistics.median(parent_cpu)
    print(
        f"cpu of the build's own process (everything but the workers and the report's process): {parent:.1f} s, "
        f"{parent / statistics.median(floor_cpu):.2f} x the floor's cpu"
    )
    if bounds:
        bound_ratios = [b / f for f, b in zip(floors, bounds, strict=True)]
        print(
            f"bound: build without semantic checks and report {statistics.median(bounds):.2f} s (median), "
            f"ratio to the floor {statistics.median(bound_ratios):.2f} (pairs {', '.join(f'{r:.2f}' for r in bound_ratios)})"
        )
    if validator_cpu:
        share = statistics.median(validator_cpu) / statistics.median(build_cpu)
        print(f"validator alone: cpu {statistics.median(validator_cpu):.1f} s (median), {share:.0%} of the build's cpu")
    print("where the build's time goes (median s; the staging steps run while Parquet is written in threads):")
    for name in phases[0]:
        print(f"  {name:38s} {statistics.median(ph[name] for ph in phases):6.2f}")
    print(f"load_measurements_s={load_s:.1f} (rows {ds.num_rows})")


if __name__ == "__main__":
    main()
