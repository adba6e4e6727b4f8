"""Where does trial-to-trial noise come from on a GPU host? Prints figures; writes the raw series.

Three parts share one clock (CLOCK_MONOTONIC, system-wide) and one independent CPU probe: a
spawned process pinned to one core that repeats a fixed pure-Python work unit the whole time.
- ``cpu``: the probe alone (host CPU speed as seen from one vCPU);
- ``launch``: the main process launches tiny CUDA kernels in chunks and synchronizes (host-bound
  GPU work without transformers);
- ``decode``: eager greedy decoding of a random-initialised architecture at batch 1, a timestamp per
  generated token, in blocks alternating the main thread's scheduling policy (default vs
  SCHED_FIFO where permitted), so a policy effect is not confused with drift.
For each series: the coefficient of variation of the rate in 1, 5 and 10 s bins, and the
correlation of the 1-s rates with the CPU probe's. High correlation means the host as a whole
changes speed, which no harness inside the VM can remove.

python benchmarks/host_noise.py --model mistralai/Mistral-7B-Instruct-v0.2 --seconds 40 --out host_noise.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path
from typing import Any

from ecocompute import stats


def _work_unit() -> int:
    acc = 0
    for i in range(20_000):
        acc = (acc + i * i) % 1_000_003
    return acc


def _cpu_probe(cpu: int, stop: Any, queue: Any) -> None:
    os.sched_setaffinity(0, {cpu})
    stamps = []
    while not stop.is_set():
        _work_unit()
        stamps.append(time.monotonic())
    queue.put(stamps)


def binned_rates(stamps: list[float], start: float, end: float, bin_s: float) -> list[float]:
    """Events per second in consecutive bins of ``bin_s`` between start and end (whole bins only)."""
    n = int((end - start) // bin_s)
    counts = [0] * n
    for t in stamps:
        k = int((t - start) // bin_s)
        if 0 <= k < n:
            counts[k] += 1
    return [c / bin_s for c in counts]


def cv_pct(xs: list[float]) -> float | None:
    """The validator's CV, or None where a window holds too few bins to have one."""
    if len(xs) < 2 or statistics.fmean(xs) == 0:
        return None
    return stats.cv_pct(xs)


def corr(a: list[float], b: list[float]) -> float | None:
    n = min(len(a), len(b))
    if n < 3 or statistics.pstdev(a[:n]) == 0 or statistics.pstdev(b[:n]) == 0:
        return None
    return statistics.correlation(a[:n], b[:n])


def summarize(name: str, stamps: list[float], start: float, end: float, probe: list[float]) -> dict[str, Any]:
    inside = sum(start <= t < end for t in stamps)
    row: dict[str, Any] = {"part": name, "events": inside, "duration_s": end - start}
    for b in (1.0, 5.0, 10.0):
        rates = binned_rates(stamps, start, end, b)
        row[f"mean_rate_{int(b)}s"] = statistics.fmean(rates) if rates else None
        row[f"cv_{int(b)}s_pct"] = cv_pct(rates)
    row["corr_1s_with_cpu_probe"] = corr(binned_rates(stamps, start, end, 1.0), binned_rates(probe, start, end, 1.0))
    return row


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def render(rows: list[dict[str, Any]]) -> str:
    def f(v: float | None, d: int = 2) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    lines = [f"{'part':38} {'events':>7} {'rate/s':>9} {'CV1s%':>6} {'CV5s%':>6} {'CV10s%':>6} {'r(cpu)':>6}"]
    for r in rows:
        lines.append(
            f"{r['part']:38} {r['events']:7d} {f(r['mean_rate_1s'], 1):>9} {f(r['cv_1s_pct']):>6} "
            f"{f(r['cv_5s_pct']):>6} {f(r['cv_10s_pct']):>6} {f(r['corr_1s_with_cpu_probe']):>6}"
        )
    return "\n".join(lines)


def launch_part(seconds: float, device: str) -> list[float]:
    import torch

    x = torch.zeros(16, device=device)
    stamps = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for _ in range(50):
            x.add_(1.0)
        _sync(device)
        stamps.append(time.monotonic())
    return stamps


def build_model(model_id: str, device: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from collector.models import build_config

    config = build_config(model_id)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float16 if device == "cuda" else torch.float32)
    return model.eval()


class _Stamper:
    """A generate() streamer that only timestamps each step (no decoding, no I/O)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def put(self, value: Any) -> None:
        self.stamps.append(time.monotonic())

    def end(self) -> None:
        pass


def decode_part(model: Any, seconds: float, blocks: int, device: str) -> tuple[list[dict[str, Any]], bool]:
    import torch

    ids = torch.randint(100, 1000, (1, 64), device=device)
    kwargs = {"max_new_tokens": 128, "min_new_tokens": 128, "do_sample": False}
    model.generate(ids, **kwargs)  # warm-up
    fifo_ok = True
    out = []
    for k in range(blocks):
        policy = "fifo" if k % 2 else "default"
        if policy == "fifo":
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            except (PermissionError, OSError):
                fifo_ok = False
                policy = "default (fifo refused)"
        stamper = _Stamper()
        start = time.monotonic()
        with torch.inference_mode():
            while time.monotonic() - start < seconds / blocks:
                model.generate(ids, streamer=stamper, **kwargs)
        end = time.monotonic()
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        out.append({"policy": policy, "start": start, "end": end, "stamps": stamper.stamps})
    return out, fifo_ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mistralai/Mistral-7B-Instruct-v0.2")
    p.add_argument("--seconds", type=float, default=40.0, help="length of the cpu and launch parts")
    p.add_argument("--decode-seconds", type=float, default=120.0)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--probe-cpu", type=int, default=None, help="core for the probe (default: the last)")
    p.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke test")
    p.add_argument("--out", type=Path, default=Path("host_noise.json"))
    a = p.parse_args()

    model = build_model(a.model, a.device)  # before the probe starts: loading is not measured
    cpus = sorted(os.sched_getaffinity(0))
    probe_cpu = a.probe_cpu if a.probe_cpu is not None else cpus[-1]
    os.sched_setaffinity(0, set(cpus) - {probe_cpu})
    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_cpu_probe, args=(probe_cpu, stop, queue))
    proc.start()
    time.sleep(2.0)

    t0 = time.monotonic()
    time.sleep(a.seconds)  # the probe alone
    t1 = time.monotonic()
    launch = launch_part(a.seconds, a.device)
    t2 = time.monotonic()
    blocks, fifo_ok = decode_part(model, a.decode_seconds, a.blocks, a.device)
    stop.set()
    probe = queue.get()
    proc.join()

    rows = [
        summarize("cpu probe alone", probe, t0, t1, probe),
        summarize("launch (50 tiny kernels + sync)", launch, t1, t2, probe),
    ]
    for b in blocks:
        rows.append(summarize(f"decode bs1 [{b['policy']}]", b["stamps"], b["start"], b["end"], probe))
        rows.append(summarize("  cpu probe during it", probe, b["start"], b["end"], probe))
    print(f"cpus {len(cpus)}, probe on cpu {probe_cpu}, SCHED_FIFO permitted: {fifo_ok}")
    print(render(rows))
    raw = {"probe": probe, "launch": launch, "decode": blocks, "t": [t0, t1, t2]}
    a.out.write_text(json.dumps({"rows": rows, "fifo_permitted": fifo_ok, "raw": raw}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
