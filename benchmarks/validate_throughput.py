"""Validate 1,000 synthetic submissions (8 measurements x 10 trials each) and print files/s.

Target (issue 2): all 1,000 in <= 10 s on the 2-core machine; `eco-validate --help` in < 1 s.
Run: python benchmarks/validate_throughput.py [--files N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this checkout's packages (not whichever checkout is installed editable: a copy of an older commit run for a
# before/after figure timed the installed one), and the synthetic generator
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import synthetic  # noqa: E402

from validator.run import exit_code, validate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.files):
            doc = synthetic.submission(seed=i, n_measurements=8, n_trials=10)
            (folder / f"{doc['submission_id']}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        start = time.perf_counter()
        report = validate([folder], accepted_root=None)
        elapsed = time.perf_counter() - start
    assert exit_code(report) == 0, report.findings[:3]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "validator", "--help"], check=True, capture_output=True)
    help_s = time.perf_counter() - start
    print(f"validated {len(report.files)} files ({size_mb:.1f} MB, 8 measurements x 10 trials each)")
    print(f"elapsed_s={elapsed:.2f} files_per_s={len(report.files) / elapsed:.0f} target_s=10")
    print(f"help_startup_s={help_s:.2f} target_s=1")


if __name__ == "__main__":
    main()
