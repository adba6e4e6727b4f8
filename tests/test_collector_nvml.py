"""The NVML adapter against the autospec'd fake: units, errors, the boards it refuses, placements and doctor. The
sampler that reads it is test_collector_sampler.py's."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import pynvml
import pytest
from fake_nvml import IDLE_W, fake_module

from collector.errors import NvmlError
from collector.nvml import Nvml
from collector.sampler import summarize_window


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


def test_a_binding_older_than_the_board_still_names_its_architecture() -> None:
    # nvidia-ml-py 12.535 (eco-collect's floor) has no NVML_DEVICE_ARCH_BLACKWELL: an RTX 5090's file read
    # 'unknown-arch-10', which eco-validate refuses as reference.gpu_mismatch (fphunt3 F4)
    nv = fake_module()
    nv.nvmlDeviceGetArchitecture.return_value = 10
    nv.nvmlDeviceGetCudaComputeCapability.return_value = (12, 0)

    class Older:  # the binding, less the name it does not define
        def __getattr__(self, name: str) -> object:
            if name == "NVML_DEVICE_ARCH_BLACKWELL":
                raise AttributeError(name)
            return getattr(nv, name)

        def __dir__(self) -> list[str]:
            return [n for n in dir(nv) if n != "NVML_DEVICE_ARCH_BLACKWELL"]

    with Nvml([0], module=Older()) as nvml:  # type: ignore[arg-type]
        gpu, _ = nvml.describe()
    assert gpu["architecture"] == "Blackwell"
    nv.nvmlDeviceGetArchitecture.return_value = 99  # an id no table knows yet stays unknown, not another's name
    with Nvml([0], module=Older()) as nvml:  # type: ignore[arg-type]
        assert nvml.describe()[0]["architecture"] == "unknown-arch-99"


def test_the_architecture_ids_are_nvmls() -> None:
    from collector.nvmlnames import NVML_ARCHITECTURES

    for arch_id, name in NVML_ARCHITECTURES.items():
        assert getattr(pynvml, f"NVML_DEVICE_ARCH_{name.upper()}") == arch_id


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
    with pytest.raises(NvmlError, match=r"GPU index 3 not present"), Nvml([3], module=nv):
        pass
    nv = fake_module()  # a handle that cannot be had: NVML, initialised, is shut down again
    nv.nvmlDeviceGetHandleByIndex.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(NvmlError, match="nvmlDeviceGetHandleByIndex"), Nvml([0], module=nv):
        pass
    nv.nvmlShutdown.assert_called_once_with()


def test_unsupported_counter_is_detected() -> None:
    with Nvml([0], module=fake_module(energy_supported=False)) as nvml:
        assert nvml.supports_energy_counter() is False


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
    assert "a machine with an NVIDIA GPU and its driver" in gpu.detail  # what to do about it


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
    assert "[collect]', with a torch built for CUDA" in packages.detail
    assert packages.detail.endswith("(https://pytorch.org/get-started/locally/ gives its pip command)")  # how


@pytest.mark.parametrize("older_name", [True, False])
def test_a_driver_without_clock_event_reasons_still_samples(older_name: bool) -> None:
    # nvmlDeviceGetCurrentClocksEventReasons came with driver 535: on an older one (eco-validate takes drivers from
    # branch 450 on) every sample failed, and the sampler ended the run after 2 s (collrev39 F3). The older name
    # reads the same bits; a board with neither records no reasons.
    nv = fake_module()
    nv.nvmlDeviceGetCurrentClocksEventReasons.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
    slowdown = pynvml.nvmlClocksThrottleReasonHwSlowdown
    if older_name:
        nv.nvmlDeviceGetCurrentClocksThrottleReasons.return_value = slowdown
    else:
        nv.nvmlDeviceGetCurrentClocksThrottleReasons.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    with Nvml([0], module=nv) as nvml:
        samples = [nvml.sample(float(t)) for t in range(3)]
        assert [s.power_w for s in samples] == [IDLE_W] * 3
        assert {s.throttle_mask for s in samples} == {slowdown if older_name else 0}
        assert nvml.throttle_names(samples[0].throttle_mask) == (["hw_slowdown"] if older_name else [])
    assert nv.nvmlDeviceGetCurrentClocksEventReasons.call_count == 1  # not asked again
    assert nv.nvmlDeviceGetCurrentClocksThrottleReasons.call_count == (3 if older_name else 1)


@pytest.mark.parametrize(
    ("step_s", "counter", "note"),
    [
        (0.1, True, None),
        (0.2, True, None),
        (0.4, False, "the NVML energy counter moved every 0.40 s at idle"),
        (0.9, False, "the NVML energy counter moved only 2 times in 2 s at idle, about every 0.90 s ("),
        (1.0, False, "the NVML energy counter moved only once in 2 s at idle ("),
        (None, False, "the NVML energy counter did not move in 2 s at idle ("),
    ],
)
def test_a_counter_that_steps_coarsely_or_not_at_all_is_timed_and_left_for_integrated_power(
    step_s: float | None, counter: bool, note: str | None
) -> None:
    # eco-collect took any counter's windows of 0.5 s and more to hold energy: one stepping every second read 0 J
    # in a short warm-up (the run refused as a failed counter), and its 4-s trials were off by up to a quarter,
    # which eco-validate refuses at the end (collrev39 F4). Its step is now timed at the start.
    from fakes import FakeTime

    clock = FakeTime()
    nv = fake_module()
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: int(
        1e9 + (IDLE_W * 1000 * step_s * ((clock.now() - 1000.0) // step_s) if step_s else 0)
    )
    with Nvml([0], module=nv) as nvml:
        measured, why = nvml.energy_method(clock.now, clock.sleep)
        if step_s is not None and step_s < 0.5:
            assert nvml.counter_step_s(clock.now, clock.sleep) == pytest.approx(step_s, abs=0.006)
    assert measured is counter and (why or "").startswith(note or "")
    assert (why is None) is (note is None) and clock.now() - 1000.0 <= 2 * 2.0 + 0.1  # bounded: 2 s a probe
    without = fake_module(energy_supported=False)
    with Nvml([0], module=without) as nvml:
        assert nvml.energy_method(clock.now, clock.sleep) == (False, None)


@pytest.mark.parametrize(
    ("fails", "note"),
    [
        (
            lambda n: n > 1,
            "the NVML energy counter failed every read (401) in 2 s at idle, so its steps were not timed:",
        ),
        (lambda n: n > 2, "the NVML energy counter was read only once in 2 s at idle (400 of 401 reads failed), too "),
        (lambda n: n > 1 and n % 2, "the NVML energy counter did not move in 2 s at idle (200 of 401 reads failed; "),
    ],
)
def test_a_counter_whose_reads_fail_during_its_probe_is_said_so(fails: Callable[[int], bool], note: str) -> None:
    # Every read failing after the first (supports_energy_counter's) was reported "did not move 3 times in 2 s",
    # as was a counter stepping once a second (review39 N2): each case is now worded as it was seen.
    from fakes import FakeTime

    clock, reads = FakeTime(), [0]
    nv = fake_module()

    def energy(handle: object) -> int:
        reads[0] += 1
        if fails(reads[0]):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
        return 1_000_000_000

    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = energy
    with Nvml([0], module=nv) as nvml:
        measured, why = nvml.energy_method(clock.now, clock.sleep)
    assert measured is False and (why or "").startswith(note), why


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (pynvml.NVML_ERROR_GPU_IS_LOST, "GPU is lost: the board fell off the bus or was reset; `nvidia-smi` shows"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "Insufficient Permissions: this user may not query the GPU"),
        (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "the driver was upgraded without a reboot: reboot"),
        (pynvml.NVML_ERROR_RESET_REQUIRED, "the board needs a reset"),
        (pynvml.NVML_ERROR_UNKNOWN, "Unknown Error: `nvidia-smi -q` shows the board's state"),
        (pynvml.NVML_ERROR_TIMEOUT, "Timeout: NVML did not answer in time"),
    ],
)
def test_an_nvml_error_says_what_to_do_about_it(code: int, said: str) -> None:
    """'eco-collect: error: nvmlDeviceGetName: GPU is lost' said what NVML said, not what a contributor does
    about it; a driver upgraded on a rented VM without a reboot read 'RM has detected an NVML/RM version
    mismatch' and then 'run it on a machine with an NVIDIA GPU'."""
    nv = fake_module()
    nv.nvmlDeviceGetName.side_effect = pynvml.NVMLError(code)
    with Nvml([0], module=nv) as nvml, pytest.raises(NvmlError) as failed:
        nvml.describe()
    assert str(failed.value).startswith("nvmlDeviceGetName: ") and said in str(failed.value)
    nv = fake_module()
    nv.nvmlInit.side_effect = pynvml.NVMLError(code)
    with pytest.raises(NvmlError) as failed, Nvml([0], module=nv):
        pass
    assert said in str(failed.value) and ("run it on a machine" in str(failed.value)) is (
        code == pynvml.NVML_ERROR_UNKNOWN
    )


def test_a_gpu_index_this_machine_lacks_is_a_usage_error() -> None:
    """--gpu 5 on a one-GPU machine: an option's value refused before anything is measured (exit 2, as every
    command refuses a value it cannot use), not a run that failed (exit 1)."""
    from ecocompute.cli import OptionError

    refused = r"^--gpu: GPU index 5 not present: NVML sees 2 GPUs \(0 to 1\)"
    with pytest.raises(OptionError, match=refused), Nvml([0, 5], module=fake_module(gpus=2)):
        pass


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_NO_PERMISSION, pynvml.NVML_ERROR_UNKNOWN])
def test_other_processes_that_cannot_be_listed_are_a_note_not_the_end_of_the_run(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list of other processes is a caveat of the file; NVML refusing it (a vGPU, a container without the
    permission) ended the run before anything was measured: 'nvmlDeviceGetComputeRunningProcesses:
    Insufficient Permissions'. doctor showed two 'gpu' rows then, one ok and one failed."""
    import collector.doctor as doctor
    from collector.session import _environment

    nv = fake_module()
    nv.nvmlDeviceGetComputeRunningProcesses.side_effect = pynvml.NVMLError(code)
    with Nvml([0], module=nv) as nvml:
        _, notes = _environment(nvml, {"python": "3.12.3"})
    (note,) = [n for n in notes if "other processes" in n]
    assert note.startswith(
        f"other processes on the GPU could not be listed (board 0: nvmlDeviceGetComputeRunningProcesses: "
        f"{pynvml.NVMLError(code)}"
    )
    assert note.endswith("): whether another process used it during the run is not known")
    monkeypatch.setattr(doctor, "_cuda_and_kernels", lambda: doctor.Check("bitsandbytes kernels", "ok", "-"))
    checks = doctor.run_checks([0], nvml_factory=lambda gpus: Nvml(gpus, module=nv), stability_windows=0)
    assert [c.status for c in checks if c.name == "gpu"] == ["ok"]
    (other,) = [c for c in checks if c.name == "other GPU processes"]
    assert other.status == "warn" and other.detail.startswith("could not be listed (board 0: ")


def test_a_power_reading_no_board_draws_is_a_failed_reading_as_0_w_is() -> None:
    """NVML's 'not available' read as a number (0xFFFFFFFF mW: 4.29 MW) was integrated as the board's power: the
    trial's peak, far beyond any board (physics.peak_power), refused the finished file. Beyond 1.5 x the board's
    highest settable limit (eco-validate's bound on a peak) a reading is left out, as one of 0 W is."""
    absurd = 0xFFFFFFFF
    nv = fake_module()  # its board's highest limit: 700 W
    nv.nvmlDeviceGetFieldValues.side_effect = lambda h, fields: [
        SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=1, value=SimpleNamespace(uiVal=v))
        for v in (absurd, absurd)
    ]
    with Nvml([0], module=nv) as nvml:
        sample = nvml.sample(0.0)  # the instant field left out: nvmlDeviceGetPowerUsage read instead
        assert (sample.power_w, sample.power_avg_1s_w, sample.usage_fallback) == (IDLE_W, None, True)
        nv.nvmlDeviceGetPowerUsage.side_effect = lambda h: 1_050_001
        with pytest.raises(NvmlError, match=r"read 1050\.001 W, beyond 1\.5 x the board's highest limit \(700 W\)"):
            nvml.sample(1.0)
        nv.nvmlDeviceGetPowerUsage.side_effect = lambda h: 1_050_000  # a transient at the bound is a reading
        assert nvml.sample(2.0).power_w == 1050.0
