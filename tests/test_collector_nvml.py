"""The NVML adapter and the sampler, against the autospec'd fake."""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import pynvml
import pytest
from fake_nvml import BOARD, IDLE_W, fake_module, make

from collector.errors import NvmlError
from collector.nvml import Nvml, Sample
from collector.sampler import Sampler, summarize_window


def test_units_are_converted_once() -> None:
    with Nvml([0], module=fake_module()) as nvml:
        t0 = time.monotonic()
        first = nvml.energy_j()[0]
        t1 = time.monotonic()
        assert nvml.sample(0.0).power_w == IDLE_W  # mW -> W
        time.sleep(0.05)
        t2 = time.monotonic()
        second = nvml.energy_j()[0]
        t3 = time.monotonic()
    assert 1_000_000 < first < second  # mJ -> J, monotonically increasing
    # the fake counter integrates IDLE_W over the time between the two reads, whatever the sleep took
    # on a loaded machine; each read is whole mJ
    assert IDLE_W * (t2 - t1) - 0.002 <= second - first <= IDLE_W * (t3 - t0) + 0.002


def test_describe_builds_the_environment_sections() -> None:
    with Nvml([0], module=fake_module()) as nvml:
        gpu, driver = nvml.describe()
    assert gpu["architecture"] == "Hopper" and gpu["compute_capability"] == "9.0"
    assert gpu["power_limit_enforced_w"] == 700.0 and gpu["mig_mode"] == "unsupported"
    assert len(gpu["uuid_sha256"]) == 64 and "fake" not in gpu["uuid_sha256"]
    assert driver == {"driver_version": "580.159.04", "nvml_version": "13.580.159.04", "cuda_driver_version": "13.0"}


def test_nvml_errors_become_project_errors() -> None:
    nv = fake_module()
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(NvmlError, match="nvmlInit"), Nvml([0], module=nv):
        pass
    with pytest.raises(NvmlError, match="not present"), Nvml([3], module=fake_module()):
        pass


def test_a_missing_index_is_named_even_when_shutdown_fails() -> None:
    """NVMLError never leaves the adapter: a shutdown failing after a missing index was found let the
    raw pynvml error out in place of the one line that names the index."""
    nv = fake_module()
    nv.nvmlShutdown.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
    with pytest.raises(NvmlError, match=r"GPU index \[3\] not present"), Nvml([3], module=nv):
        pass
    nv = fake_module()  # a handle that cannot be had: NVML, initialised, is shut down again
    nv.nvmlDeviceGetHandleByIndex.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(NvmlError, match="nvmlDeviceGetHandleByIndex"), Nvml([0], module=nv):
        pass
    nv.nvmlShutdown.assert_called_once_with()


def test_unsupported_counter_is_detected() -> None:
    with Nvml([0], module=fake_module(energy_supported=False)) as nvml:
        assert nvml.supports_energy_counter() is False


def test_window_integral_interpolates_the_edges() -> None:
    samples = [Sample(t, p, 40, 1000, 2000, 0) for t, p in [(0.0, 100), (1.0, 200), (2.0, 200), (3.0, 100)]]
    stats = summarize_window(samples, 0.5, 2.5, lambda m: [])
    # 0.5-1: 150->200, 1-2: 200, 2-2.5: 200->150  => 87.5 + 200 + 87.5
    assert stats.energy_j == pytest.approx(375.0)
    assert stats.power_avg_w == pytest.approx(187.5)
    assert stats.samples == 2 and stats.power_peak_w == 200


def test_power_fields_instant_and_one_second_average_in_watts_with_fallbacks() -> None:
    with Nvml([0, 1], module=fake_module(gpus=2)) as nvml:
        assert nvml.power_reading() == "nvml_power_instant_field"
        sample = nvml.sample(0.0)  # mW -> W, summed over the measured GPUs
        assert sample.power_w == 2 * IDLE_W and sample.power_avg_1s_w == 2 * IDLE_W
    nv = fake_module(fields_supported=False)  # before Ampere: neither field
    with Nvml([0], module=nv) as nvml:
        assert nvml.power_reading() == "nvml_power_usage"
        sample = nvml.sample(0.0)
        assert sample.power_w == IDLE_W and sample.power_avg_1s_w is None  # nvmlDeviceGetPowerUsage instead
    nv = fake_module()
    nv.nvmlDeviceGetFieldValues.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
    with Nvml([0], module=nv) as nvml:  # an old driver without field values at all
        sample = nvml.sample(0.0)
        assert sample.power_avg_1s_w is None and sample.power_w == IDLE_W
        nvml.sample(1.0)
    assert nv.nvmlDeviceGetFieldValues.call_count == 1  # not asked again


def test_sampled_power_is_the_instant_field_not_the_usage_reading() -> None:
    """On Ampere and newer nvmlDeviceGetPowerUsage is a 1-s average (seen on the H100: it equals
    NVML_FI_DEV_POWER_AVERAGE); the sampler integrates the instant field where there is one."""
    nv = fake_module()
    instant_mw, average_mw = 300_000, 200_000
    nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [
        SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=1, value=SimpleNamespace(uiVal=v))
        for v in (instant_mw, average_mw)
    ]
    nv.nvmlDeviceGetPowerUsage.side_effect = lambda h: average_mw
    with Nvml([0], module=nv) as nvml:
        sample = nvml.sample(0.0)
    assert (sample.power_w, sample.power_avg_1s_w) == (300.0, 200.0)


def test_window_averages_the_one_second_field_where_present() -> None:
    samples = [Sample(t, 100, 40, 1000, 2000, 0, avg) for t, avg in [(0.0, 90), (1.0, None), (2.0, 120), (3.0, 80)]]
    assert summarize_window(samples, 0.5, 2.5, lambda m: []).power_avg_1s_w == pytest.approx(120.0)
    assert summarize_window(samples, 0.0, 3.0, lambda m: []).power_avg_1s_w == pytest.approx(290 / 3)
    plain = [Sample(t, 100, 40, 1000, 2000, 0) for t in (0.0, 1.0)]
    assert summarize_window(plain, 0.0, 1.0, lambda m: []).power_avg_1s_w is None


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_sampler_reports_windows(mode: str) -> None:
    with Sampler(functools.partial(make, [0]), period_s=0.01, mode=mode) as sampler:
        t0 = time.monotonic()
        time.sleep(0.3)
        t1 = time.monotonic()
        window = sampler.window(t0, t1)
    assert not BOARD.busy
    assert window.power_avg_w == pytest.approx(IDLE_W)
    assert window.energy_j == pytest.approx(IDLE_W * (t1 - t0), rel=1e-6)
    assert window.sample_rate_hz > 10  # >= 10 Hz required
    assert window.throttle_reasons == []  # GPU idle is not a throttle
    assert window.power_avg_1s_w == pytest.approx(IDLE_W)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_paused_sampler_takes_no_readings_until_resumed(mode: str) -> None:
    with Sampler(functools.partial(make, [0]), period_s=0.01, mode=mode) as sampler:
        sampler.pause()
        t0 = time.monotonic()
        time.sleep(0.2)
        t1 = time.monotonic()
        paused = sampler.window(t0, t1)
        sampler.resume()
        t2 = time.monotonic()
        time.sleep(0.2)
        running = sampler.window(t2, time.monotonic())
    assert paused.samples == 0  # only the reading taken to answer, after t1
    assert running.samples >= 10 and running.power_avg_w == pytest.approx(IDLE_W)


def test_the_measured_board_is_found_among_torch_devices_by_uuid(monkeypatch) -> None:
    import uuid
    from types import SimpleNamespace

    import pytest
    import torch

    from collector.errors import CollectError
    from collector.models import torch_device

    boards = [uuid.UUID(int=7), uuid.UUID(int=3)]  # CUDA order differs from NVML's PCI order
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(boards))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda k: SimpleNamespace(uuid=boards[k]))
    assert torch_device(f"GPU-{uuid.UUID(int=3)}") == "cuda:1"
    assert torch_device(f"GPU-{str(uuid.UUID(int=7)).upper()}") == "cuda:0"
    with pytest.raises(CollectError, match="CUDA_VISIBLE_DEVICES"):
        torch_device(f"GPU-{uuid.UUID(int=9)}")


def test_without_a_driver_the_error_says_so_and_points_to_doctor() -> None:
    nv = fake_module()
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(NvmlError, match=r"no usable NVIDIA driver.*eco-collect doctor"), Nvml([0], module=nv):
        pass


def test_doctor_without_a_driver_does_not_tell_you_to_run_doctor(monkeypatch: pytest.MonkeyPatch) -> None:
    import collector.doctor as doctor

    monkeypatch.setattr(doctor.hostinfo, "package_versions", lambda: {"python": "3.12.3"})
    nv = fake_module()
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    checks = doctor.run_checks([0], nvml_factory=lambda gpus: Nvml(gpus, module=nv), stability_windows=0)
    gpu = next(c for c in checks if c.name == "gpu")
    assert gpu.status == "fail" and "no usable NVIDIA driver" in gpu.detail
    assert "eco-collect doctor" not in gpu.detail  # doctor is what is running


def test_a_passing_field_failure_falls_back_for_that_sample_only_and_says_so() -> None:
    nv = fake_module()
    real = nv.nvmlDeviceGetFieldValues.side_effect
    failures = iter([pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)])

    def flaky(handle: object, fields: list[int]) -> object:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(handle, fields)

    nv.nvmlDeviceGetFieldValues.side_effect = flaky
    with Nvml([0], module=nv) as nvml:
        first, second = nvml.sample(0.0), nvml.sample(1.0)
    assert first.usage_fallback and not second.usage_fallback  # the next sample reads the field again
    window = summarize_window([first, second], 0.0, 1.0, lambda m: [])
    assert window.power_reading == "mixed"


def test_accelerates_device_map_becomes_positions_among_the_measured_gpus() -> None:
    from collector.errors import CollectError
    from collector.models import placement_of

    device_map = {"model.embed_tokens": 1, "model.layers.0": 1, "model.layers.1": 0, "lm_head": 0}
    placement = placement_of(device_map, ["cuda:1", "cuda:0"])  # --gpu listed board cuda:1 first
    assert placement.strategy == "device_map"
    assert placement.device_map == {"model.embed_tokens": 0, "model.layers.0": 0, "model.layers.1": 1, "lm_head": 1}
    with pytest.raises(CollectError, match="offloaded work is not measured"):
        placement_of({"model.layers.0": 0, "lm_head": "cpu"}, ["cuda:0", "cuda:1"])
    # A model the balanced map fits on one board (accelerate then records no map): that board, whole.
    assert placement_of({"": "cuda:1"}, ["cuda:0", "cuda:1"]).device_map == {"": 1}


def test_a_model_accelerate_left_on_one_device_is_placed_whole_on_it() -> None:
    import torch

    from collector.errors import CollectError
    from collector.models import device_map_of

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    assert device_map_of(model) == {"": "cpu"}  # no hf_device_map: the weights' one device
    model.hf_device_map = {"0": 0, "1": 1}
    assert device_map_of(model) == {"0": 0, "1": 1}
    del model.hf_device_map
    model[1].to("meta")
    with pytest.raises(CollectError, match="no device map for a model whose weights lie on cpu, meta"):
        device_map_of(model)


def test_a_board_with_mig_enabled_is_refused_before_anything_is_measured() -> None:
    """eco-validate refuses such a file (protocol.mig_enabled): it would be refused after the whole run."""
    from collector.errors import CollectError
    from collector.session import _environment

    nv = fake_module()
    nv.nvmlDeviceGetMigMode.side_effect = None
    nv.nvmlDeviceGetMigMode.return_value = (1, 1)
    with Nvml([0], module=nv) as nvml, pytest.raises(CollectError, match="the GPU has MIG enabled"):
        _environment(nvml, {"python": "3.12.3"})
    nv.nvmlDeviceGetMigMode.return_value = (0, 0)
    with Nvml([0], module=nv) as nvml:
        assert _environment(nvml, {"python": "3.12.3"})[0].gpu.mig_mode == "disabled"


def test_boards_that_differ_where_the_file_records_one_value_are_refused() -> None:
    """The submission records the first board's name, MIG mode and enforced limit for all of them: a
    second board with MIG on went unseen, and one capped board made the other's honest draw look too
    high (attack s17c)."""
    from collector.errors import CollectError
    from collector.session import _environment

    nv = fake_module(gpus=2)
    nv.nvmlDeviceGetMigMode.side_effect = lambda h: (1, 1) if h == "handle-1" else (0, 0)
    with Nvml([0, 1], module=nv) as nvml, pytest.raises(CollectError, match=r"board 1 \(MIG enabled: True\)"):
        _environment(nvml, {"python": "3.12.3"})
    nv.nvmlDeviceGetMigMode.side_effect = lambda h: (0, 0)
    limit = nv.nvmlDeviceGetEnforcedPowerLimit.return_value
    nv.nvmlDeviceGetEnforcedPowerLimit.side_effect = lambda h: 400_000 if h == "handle-1" else limit
    with Nvml([0, 1], module=nv) as nvml, pytest.raises(CollectError, match=r"enforced power limit .*400000"):
        _environment(nvml, {"python": "3.12.3"})
    nv.nvmlDeviceGetEnforcedPowerLimit.side_effect = None
    with Nvml([0, 1], module=nv) as nvml:
        assert _environment(nvml, {"python": "3.12.3"})[0].gpu.count == 2


def test_a_board_that_cannot_report_its_limit_is_named_in_the_refusal() -> None:
    """An unsupported query on the second board was an unnamed NVML error (attack s17d)."""
    nv = fake_module(gpus=2)
    limit = nv.nvmlDeviceGetEnforcedPowerLimit.return_value

    def enforced(h: str) -> int:
        if h == "handle-1":
            raise nv.NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
        return limit

    nv.nvmlDeviceGetEnforcedPowerLimit.side_effect = enforced
    with Nvml([0, 1], module=nv) as nvml:
        assert nvml.unlike_boards() == [
            f"board 1 (enforced power limit (mW): unsupported) differs from board 0 ({limit})"
        ]


def test_each_boards_power_is_integrated_over_the_window_as_the_sum_is() -> None:
    """Each board's trapezoid over the window, its ends interpolated as the sum's: the boards' integrals add
    up to the window's energy, and one board's is that energy to the bit (a one-board file is unchanged)."""

    def sample(t: float, *watts: float) -> Sample:
        return Sample(t, sum(watts), 45, 1980, 2619, 0, None, tuple(watts))

    two = [sample(0.0, 100.0, 60.0), sample(0.5, 300.0, 61.0), sample(1.0, 200.0, 59.0), sample(1.5, 100.0, 60.0)]
    w = summarize_window(two, 0.25, 1.25, lambda _m: [])
    assert w.energy_per_gpu_j == pytest.approx((231.25, 60.0), rel=1e-12)  # by hand: trapezoids, ends interpolated
    assert sum(w.energy_per_gpu_j) == pytest.approx(w.energy_j, rel=1e-15)
    one = [sample(s.t_s, s.power_per_gpu_w[0] + 0.001 * k) for k, s in enumerate(two)]
    w = summarize_window(one, 0.25, 1.25, lambda _m: [])
    assert w.energy_per_gpu_j == (w.energy_j,)
    inside_none = summarize_window(two, 0.6, 0.9, lambda _m: [])  # no sample inside: its neighbours
    assert sum(inside_none.energy_per_gpu_j) == pytest.approx(inside_none.energy_j, rel=1e-15)


class ScriptedPipe:
    """The sampler's end of its pipe, on fake time: ``poll`` lets ``idle`` periods pass (the fake clock
    advancing by each timeout) before it hands over each message of ``script``."""

    def __init__(self, clock: list[float], script: list[tuple[object, ...]], idle: int) -> None:
        self.clock, self.script, self.idle, self.sent = clock, script, idle, []

    def poll(self, timeout: float | None) -> bool:
        if self.idle:
            self.idle -= 1
            self.clock[0] += timeout or 0.0
            return False
        return bool(self.script)

    def recv(self) -> tuple[object, ...]:
        return self.script.pop(0)

    def send(self, message: tuple[object, object]) -> None:
        self.sent.append(message)


def _flaky_power(nv: object, failing: set[int], errors: list[int]) -> None:
    """nvmlDeviceGetPowerUsage fails (NVMLError of ``errors`` in turn) or reads 0 W on the calls numbered in
    ``failing``; the instant field reads 0 W always, so that every reading falls back to it."""
    calls = iter(range(10**6))
    kinds = iter(errors * 100)

    def power(handle: object) -> int:
        if next(calls) in failing:
            kind = next(kinds)
            if kind == 0:
                return 0
            raise pynvml.NVMLError(kind)
        return 250_000

    nv.nvmlDeviceGetPowerUsage.side_effect = power  # type: ignore[attr-defined]
    nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [  # type: ignore[attr-defined]
        SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=1, value=SimpleNamespace(uiVal=0)) for _ in fields
    ]


def test_a_passing_nvml_failure_or_a_0_w_reading_is_left_out_and_counted_not_the_end_of_the_run(monkeypatch) -> None:
    # One TIMEOUT from nvmlDeviceGetPowerUsage ended the sampler, and with it the whole run (power sampler
    # failed: ... Timeout); a reading of 0 W (instant field or usage) was integrated as 0 W.
    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    errors = [pynvml.NVML_ERROR_TIMEOUT, pynvml.NVML_ERROR_UNKNOWN, pynvml.NVML_ERROR_NOT_SUPPORTED, 0]
    _flaky_power(nv, {3, 5, 6, 8}, errors)
    pipe = ScriptedPipe(clock, [("window", 100.0, 100.5), ("stop",)], idle=12)
    sampler_mod._serve(pipe, lambda: Nvml([0], module=nv), 0.05)
    _, (kind, window) = pipe.sent
    assert kind == "window", window
    assert window.failed_readings == 4 and window.samples == 11 - 4
    assert window.power_avg_w == pytest.approx(250.0) and window.power_reading == "nvml_power_usage"


def test_nvml_readings_failing_for_seconds_in_a_row_end_the_sampler(monkeypatch) -> None:
    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    _flaky_power(nv, set(range(2, 10**6)), [pynvml.NVML_ERROR_GPU_IS_LOST])
    pipe = ScriptedPipe(clock, [("window", 100.0, 110.0), ("stop",)], idle=200)
    sampler_mod._serve(pipe, lambda: Nvml([0], module=nv), 0.05)
    kind, message = pipe.sent[-1]
    assert kind == "error" and "NVML readings failed for 2.0" in message and "GPU is lost" in message


def test_a_window_says_its_longest_stretch_without_a_reading() -> None:
    times = [0.9, 1.0, 1.05, 1.1, 3.1, 3.15, 3.2, 4.6]  # the sampler stalled 2 s (a suspended VM); none 3.2-4.6
    samples = [Sample(t, 100, 40, 1000, 2000, 0) for t in times]
    assert summarize_window(samples, 1.0, 3.15, lambda m: []).gap_s == pytest.approx(2.0)
    assert summarize_window(samples, 3.1, 4.0, lambda m: []).gap_s == pytest.approx(0.8)  # to the window's end
    assert summarize_window(samples, 0.95, 1.1, lambda m: []).gap_s == pytest.approx(0.05)


def test_the_sampler_process_leaves_ctrl_c_to_the_measuring_process(monkeypatch) -> None:
    # Ctrl-C reaches the whole process group: the sampler's process printed a KeyboardInterrupt traceback of
    # its own beside eco-collect's one line (/work/notes/attackmeas/repro_sigint_sampler.py).
    import signal

    from collector import sampler as sampler_mod

    handlers: list[tuple[int, object]] = []
    monkeypatch.setattr(sampler_mod.signal, "signal", lambda sig, handler: handlers.append((sig, handler)))
    pipe = ScriptedPipe([0.0], [("stop",)], idle=0)
    sampler_mod._child(pipe, lambda: Nvml([0], module=fake_module()), 0.05, False)
    assert handlers == [(signal.SIGINT, signal.SIG_IGN)] and pipe.sent == [("ready", None)]


def test_one_failed_read_of_the_instant_field_does_not_label_the_run_usage() -> None:
    """attackmeas F10: the run's power_reading rested on one read at the start; a timeout there labelled the whole
    run nvmlDeviceGetPowerUsage while every trial read the instant field."""
    nv = fake_module()
    values = nv.nvmlDeviceGetFieldValues.side_effect
    calls = iter(range(1_000))

    def flaky(h: object, fields: list[int]) -> object:
        if next(calls) == 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        return values(h, fields) if values else nv.nvmlDeviceGetFieldValues.return_value

    nv.nvmlDeviceGetFieldValues.side_effect = flaky
    with Nvml([0], module=nv) as nvml:
        assert nvml.power_reading() == "nvml_power_instant_field"
    nv = fake_module()
    nv.nvmlDeviceGetFieldValues.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
    with Nvml([0], module=nv) as nvml:  # failing every time: the run reads nvmlDeviceGetPowerUsage
        assert nvml.power_reading() == "nvml_power_usage"


def test_one_failed_reading_after_a_slow_good_one_is_left_out_not_the_end_of_the_run(monkeypatch) -> None:
    """review30: 'readings failing for 2 s in a row' counted from the last good reading's start, so a good reading
    NVML took 2.5 s to give (or a sampler the host held up that long), then one passing failure, ended the
    sampler and the whole run; failures for 2 s in a row still end it."""
    from collections import deque

    from collector import sampler as sampler_mod

    clock = [100.0]
    monkeypatch.setattr(sampler_mod.time, "monotonic", lambda: clock[0])
    nv = fake_module()
    _flaky_power(nv, {1, 3, 4, 5, 6}, [pynvml.NVML_ERROR_TIMEOUT])
    buffer: deque[Sample] = deque()
    failed: deque[float] = deque()
    with Nvml([0], module=nv) as nvml:
        read = sampler_mod._Reader(nvml, buffer, failed)
        read()  # good, at 100.0
        clock[0] += 2.5  # NVML took 2.5 s over that reading, or the host held the sampler up
        read()  # one passing failure
        clock[0] += 0.05
        read()  # good again
        assert len(buffer) == 2 and list(failed) == [102.5]
        for step in (0.05, 0.9, 0.9):  # failing from 102.6 to 104.4: 1.8 s
            clock[0] += step
            read()
        assert len(failed) == 4
        clock[0] += 0.5
        with pytest.raises(NvmlError, match=r"failed for 2\.3 s in a row"):
            read()


def test_doctor_asks_for_a_torch_built_for_cuda_where_torch_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """The [collect] extra alone keeps a CPU-only torch: doctor says what eco-collect run says."""
    import collector.doctor as doctor

    versions = {"python": "3.12.3", "torch": "2.11.0+cpu", "torch_cuda": "none"}
    monkeypatch.setattr(doctor.hostinfo, "package_versions", lambda: versions)
    nv = fake_module()
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    checks = doctor.run_checks([0], nvml_factory=lambda gpus: Nvml(gpus, module=nv), stability_windows=0)
    packages = next(c for c in checks if c.name == "packages")
    assert packages.status == "fail" and "torch_cuda=none" in packages.detail
    assert packages.detail.endswith("[collect]', with a torch built for CUDA")
