"""Fakes for the collector's tests: a fake clock, a board whose energy follows it, a sampler that
reads the board, a workload that spends fake time, and graph backends that replay by calling.

With these a whole run takes the real model code path (tiny models on the CPU) while every second of
it is simulated: the tests are fast and deterministic.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fake_nvml
import pytest
import torch

from collector.engines import EngineUnavailable, Workload
from collector.nvml import Nvml
from collector.sampler import WindowStats

# Tiny models on two cores: one thread is about 4x faster per forward than two (less overhead, no
# contention with a parallel test run).
torch.set_num_threads(1)

LOAD_W = 250.0
IDLE_W = 70.0


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class Board:
    """One GPU's power over fake time: load power while a request runs, idle power otherwise."""

    def __init__(self, time: FakeTime, load_w: float = LOAD_W, idle_w: float = IDLE_W) -> None:
        self.time, self.load_w, self.idle_w = time, load_w, idle_w
        self.changes: list[tuple[float, float]] = [(time.now(), idle_w)]  # (since, power)

    def set_power(self, watts: float) -> None:
        self.changes.append((self.time.now(), watts))

    def energy_j(self, until: float | None = None) -> float:
        end = self.time.now() if until is None else until
        total = 0.0
        for (t0, p), (t1, _) in zip(self.changes, [*self.changes[1:], (end, 0.0)], strict=True):
            total += p * max(0.0, min(t1, end) - t0)
        return 1_000_000.0 + total

    def mean_power_w(self, t0: float, t1: float) -> float:
        return (self.energy_j(t1) - self.energy_j(t0)) / (t1 - t0)

    def power_at(self, t: float) -> float:
        return ([p for since, p in self.changes if since <= t] or [self.changes[0][1]])[-1]  # idle before


class FakeSampler:
    """The sampler process's answer, computed from the board: exact mean power over a window."""

    def __init__(self, board: Board, reading: str = "nvml_power_instant_field", gpus: int = 1) -> None:
        self.board, self.reading, self.gpus = board, reading, gpus  # each GPU draws its share of the board's

    def __call__(self, *_args: Any) -> FakeSampler:  # stands for Sampler(factory, period, mode, pin)
        return self

    def __enter__(self) -> FakeSampler:
        return self

    def __exit__(self, *exc: object) -> None: ...

    def window(self, t0: float, t1: float) -> WindowStats:
        per_gpu = self.board.mean_power_w(t0, t1)
        power = per_gpu * self.gpus
        samples = max(1, int((t1 - t0) * 20))
        return WindowStats(
            power_avg_w=power,
            power_peak_w=round(max(p for _, p in self.board.changes) * self.gpus, 3),  # NVML: whole mW
            energy_j=power * (t1 - t0),
            samples=samples,
            sample_rate_hz=samples / (t1 - t0),
            temperature_max_c=45.0,
            sm_clock_mhz_mean=1980.0,
            mem_clock_mhz_mean=2619.0,
            throttle_reasons=[],
            power_avg_1s_w=round(power * 1000 * samples) / (1000 * samples),  # a mean of whole-mW readings
            energy_per_gpu_j=tuple(per_gpu * (t1 - t0) * share(k, self.gpus) for k in range(self.gpus)),
            power_reading=self.reading,
        )


class Timed:
    """An engine whose every request takes the next duration from ``durations`` in fake time, the
    board drawing load power (within ``power_cv`` of its nominal value, as real boards wander)
    meanwhile; the real engine computes the tokens."""

    def __init__(
        self,
        engine: Workload,
        board: Board,
        durations: Iterator[float],
        on_request: Callable[[], None],
        power_cv: float = 0.002,
        seed: int = 0,
    ) -> None:
        self.engine, self.board, self.durations, self.on_request = engine, board, durations, on_request
        self.power = noisy(power_cv, seed=seed, scale=board.load_w)

    def synchronize(self) -> None:
        self.engine.synchronize()

    def run_request(self) -> int:
        self.on_request()
        tokens = self.engine.run_request()
        self.board.set_power(next(self.power))
        self.board.time.sleep(next(self.durations))
        self.board.set_power(self.board.idle_w)
        return tokens


def timed(
    board: Board,
    durations: Callable[[Workload], Iterator[float]] | None = None,
    on_request: Callable[[Workload], None] = lambda w: None,
    first_seed: int = 1,
) -> Callable[[Workload], Workload]:
    """A Hooks.workload that runs each engine on fake time: requests of about 0.5 s (0.2 % spread, so the
    gates pass and no two trials are identical) unless ``durations`` says otherwise."""

    seeds = itertools.count(first_seed)  # every engine its own noise, the same in every run

    def wrap(engine: Workload) -> Workload:
        seed = next(seeds)
        it = durations(engine) if durations else noisy(0.002, seed=seed)
        return Timed(engine, board, it, lambda: on_request(engine), seed=1000 + seed)

    return wrap


def share(k: int, gpus: int) -> float:
    """GPU k's part of the board's draw, summing to ``gpus`` over them: boards of a sharded model hold
    different layers, so no two read the same energy (eco-validate's fabrication.zero_variance)."""
    return 1.0 + 0.002 * (k - (gpus - 1) / 2)


def nvml_on(board: Board, energy_supported: bool = True, gpus: int = 1) -> Callable[[list[int]], Nvml]:
    """An NVML factory whose energy counter of GPU k is its ``share`` of the board's."""

    def factory(indices: list[int]) -> Nvml:
        nv = fake_nvml.fake_module(energy_supported=energy_supported, gpus=gpus)
        if energy_supported:
            nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: int(
                board.energy_j() * share(int(str(h).rsplit("-", 1)[-1]), gpus) * 1000
            )
        return Nvml(indices, module=nv)

    return factory


class _Call:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn

    def replay(self) -> None:
        self.fn()


class PlainGraphs:
    """A graph backend for the CPU: the same warm-up and setup sequence, then replay = call."""

    def __init__(self, refuse: Callable[[Any], str | None] = lambda fn: None) -> None:
        self.refuse = refuse  # a reason to fail the capture, as a CUDA capture of LLM.int8() fails

    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> _Call:
        for _ in range(2):
            setup()
            (warm_up or fn)()
        setup()
        reason = self.refuse(fn)
        if reason:
            raise RuntimeError(reason)
        return _Call(fn)


class NoGraphs:
    def capture(
        self,
        fn: Callable[[], None],
        setup: Callable[[], None],
        device: Any,
        warm_up: Callable[[], None] | None = None,
        others: Sequence[Any] = (),
    ) -> _Call:
        raise EngineUnavailable("no CUDA here")


def noisy(cv: float, seed: int = 0, scale: float = 0.5) -> Iterator[float]:
    """Values around ``scale`` (request durations: 0.5 s) with a relative spread ``cv``, reproducibly."""
    import random

    rng = random.Random(seed)
    while True:
        yield scale * math.exp(rng.gauss(0.0, cv))


def register_test_model(monkeypatch: Any, tmp_path: Any, model_id: str, model_type: str, config: Any) -> None:
    """Give this test reference tables that also know a tiny test architecture, as a pull request adds
    the row of a new model (the validator refuses models it does not know): the package's tables
    copied, the row added, and every reader pointed at the copy."""
    import json
    import shutil

    from ecocompute import reference

    folder = tmp_path / "reference-tables"
    shutil.copytree(reference.PACKAGE_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    hyperparameters = {k: v for k, v in config.to_diff_dict().items() if k in _HYPERPARAMETERS}
    models = json.loads((folder / "models.json").read_text(encoding="utf-8"))
    models["models"].append(
        {
            "id": model_id,
            "model_type": model_type,
            "parameter_count": reference.parameter_count(model_type, hyperparameters),
            "hyperparameters": hyperparameters,
            "source": "test fixture",
        }
    )
    (folder / "models.json").write_text(json.dumps(models), encoding="utf-8")
    monkeypatch.setattr(reference, "PACKAGE_DIR", folder)


_HYPERPARAMETERS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "tie_word_embeddings",
    "rope_theta",
    "max_position_embeddings",
)


class RecordingCuda:
    """A stand-in for ``torch.cuda`` that records which stream each piece of work went to, for the
    stream and pool choreography of a capture spanning several boards (no CUDA on the test machine).

    Work is ``launch(device)``: it lands on that device's current stream, under its active pool."""

    class _Stream:
        def __init__(self, cuda: RecordingCuda, device: Any, name: str) -> None:
            self.cuda, self.device, self.name = cuda, device, name

        def wait_stream(self, other: RecordingCuda._Stream) -> None:
            self.cuda.log.append(("wait", self.name, other.name))

        def __repr__(self) -> str:
            return self.name

    class _Graph:
        def __init__(self, cuda: RecordingCuda) -> None:
            self.cuda = cuda

        def replay(self) -> None:
            self.cuda.log.append(("replay", str(self.cuda.current_stream(self.cuda.current))))

    def __init__(self, devices: Sequence[Any]) -> None:
        self.log: list[tuple[str, ...]] = []
        self.current = devices[0]
        self.streams = {d: self._Stream(self, d, f"default:{d.index}") for d in devices}
        self.pools: dict[Any, Any] = {}  # device -> active pool
        self.created = 0
        self.capturing = False

    def _stream_name(self, device: Any) -> str:
        self.created += 1
        return f"s{self.created}:{device.index}"

    def Stream(self, device: Any = None) -> RecordingCuda._Stream:
        assert not self.capturing, "streams cannot be created inside a capture"
        return self._new_stream(device if device is not None else self.current)

    def _new_stream(self, device: Any) -> RecordingCuda._Stream:
        return RecordingCuda._Stream(self, device, self._stream_name(device))

    def current_stream(self, device: Any = None) -> RecordingCuda._Stream:
        return self.streams[device if device is not None else self.current]

    def synchronize(self, device: Any = None) -> None:
        self.log.append(("synchronize", str((device if device is not None else self.current).index)))

    def MemPool(self) -> tuple[str, int]:
        assert not self.capturing, "pools cannot be created inside a capture"
        return ("pool", self.current.index)

    def CUDAGraph(self) -> RecordingCuda._Graph:
        return self._Graph(self)

    @contextlib.contextmanager
    def device(self, device: Any) -> Iterator[None]:
        before, self.current = self.current, device
        try:
            yield
        finally:
            self.current = before

    @contextlib.contextmanager
    def stream(self, stream: RecordingCuda._Stream) -> Iterator[None]:
        # As torch.cuda.stream: the stream's device becomes the current device too.
        before_device, before = self.current, self.streams[stream.device]
        self.streams[stream.device], self.current = stream, stream.device
        try:
            yield
        finally:
            self.streams[stream.device], self.current = before, before_device

    @contextlib.contextmanager
    def use_mem_pool(self, pool: Any, device: Any = None) -> Iterator[None]:
        assert pool == ("pool", device.index), "a pool serves the device it was created on"
        self.pools[device] = pool
        try:
            yield
        finally:
            del self.pools[device]

    @contextlib.contextmanager
    def graph(self, graph: RecordingCuda._Graph) -> Iterator[None]:
        capture = self._new_stream(self.current)
        capture.name = "capture:" + capture.name
        self.log.append(("begin", capture.name))
        self.capturing = True
        with self.stream(capture):
            yield
        self.capturing = False
        self.log.append(("end", capture.name))

    def launch(self, device: Any) -> None:
        pool = "pool" if device in self.pools else "-"
        self.log.append(("launch", str(self.current_stream(device)), pool))


def fake_cuda_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test machine's torch is a CPU build (``2.x+cpu``, no CUDA version); the fake GPU stands for a
    CUDA 13.0 build, so the recorded versions say so together (validator.versions judges the pair)."""
    from collector import hostinfo

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    real = hostinfo.package_versions

    def cuda_build() -> dict[str, str]:
        found = real()
        return found | {"torch": found["torch"].split("+", 1)[0] + "+cu130"}

    monkeypatch.setattr(hostinfo, "package_versions", cuda_build)
