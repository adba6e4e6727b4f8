"""Physical bounds that per-file fixtures cannot show alone: the roofline of a model placed over
several GPUs (accelerate's device map runs the layers one board after another), the energy floor at its
edge, and one session at a time on one GPU across files."""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import synthetic
from conftest import write_json

from ecocompute import catalogue, domain, reference
from ecocompute.measurement import Placement
from validator import capacity, fabrication, hardware
from validator.check import Checked
from validator.run import cross_file_findings, validate


def _over_two_gpus(doc: dict[str, Any], speed: float) -> list[str]:
    """The first measurement placed over two GPUs by a device map, its trials decoding at ``speed``
    times one board's bandwidth roofline; the codes hardware.check finds."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    read_bytes = ref.models[m.model.id].active_parameter_count * catalogue.PRECISIONS[m.precision].bytes_per_param
    bound = m.batch_size * ref.gpus[sub.environment.gpu.name].memory_bandwidth_gb_s * 1e9 / read_bytes
    trials = tuple(replace(t, duration_s=t.generated_tokens / (speed * bound)) for t in m.trials)
    placed = replace(m, trials=trials, placement=Placement("device_map", {"model.layers.0": 0, "lm_head": 1}))
    gpu = replace(sub.environment.gpu, count=2)
    two = replace(sub, measurements=(placed,), environment=replace(sub.environment, gpu=gpu))
    return [f.code for f in hardware.check(two, "f.json", ref)]


@pytest.mark.parametrize(("speed", "rejected"), [(1.2, False), (1.3, True), (1.9, True)])
def test_two_gpus_do_not_double_the_roofline(valid_doc: dict[str, Any], speed: float, rejected: bool) -> None:
    # 1.9x one board's roofline passed while the bound counted both boards' bandwidth
    assert ("physics.roofline" in _over_two_gpus(valid_doc, speed)) is rejected


def _energy_floor_codes(doc: dict[str, Any], model_id: str, precision: str, above_floor: float) -> list[str]:
    """The first measurement as ``model_id`` in ``precision``, every trial's energy above idle set to
    ``above_floor`` times what reading its weights once per decode step costs at the floor."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    spec = ref.models[model_id]
    model = replace(m.model, id=model_id, parameter_count=spec.parameter_count, model_type=spec.model_type)
    read_bytes = spec.active_parameter_count * catalogue.PRECISIONS[precision].bytes_per_param
    assert m.idle is not None and m.idle.power_after_w is not None
    lower_idle_w = min(m.idle.power_before_w, m.idle.power_after_w)  # the floor's baseline
    trials = tuple(
        replace(
            t,
            energy_j=lower_idle_w * t.duration_s
            + above_floor
            * capacity.READ_ENERGY_FLOOR_J_PER_BYTE
            * read_bytes
            * t.requests
            * sub.protocol.output_tokens,
        )
        for t in m.trials
    )
    low = replace(sub, measurements=(replace(m, model=model, precision=precision, trials=trials),))
    return [f.code for f in hardware.check(low, "f.json", ref)]


@pytest.mark.parametrize(("above_floor", "rejected"), [(0.9, True), (1.1, False)])
def test_energy_above_idle_pays_for_reading_the_weights(
    valid_doc: dict[str, Any], above_floor: float, rejected: bool
) -> None:
    # a fabricated file drawing a few watts above idle at the roofline's speed passed with no lower bound
    codes = _energy_floor_codes(valid_doc, "mistralai/Mistral-7B-Instruct-v0.2", "fp16", above_floor)
    assert ("physics.energy_floor" in codes) is rejected


def test_energy_floor_judges_weights_above_any_l2_cache(valid_doc: dict[str, Any]) -> None:
    # Qwen2.5-0.5B in nf4: 236 MiB of weights, above the largest L2 cache (about 126 MB); it was
    # exempt under the 256-MiB bound of before
    assert "physics.energy_floor" in _energy_floor_codes(valid_doc, "Qwen/Qwen2.5-0.5B-Instruct", "nf4", 0.1)
    assert "physics.energy_floor" in _energy_floor_codes(valid_doc, "Qwen/Qwen2.5-0.5B-Instruct", "fp16", 0.1)


def _window_codes(doc: dict[str, Any], powers: list[float]) -> list[str]:
    """The first measurement's trials after warm-up given ``powers``; the codes fabrication.check finds."""
    sub = domain.parse(doc)
    m = sub.measurements[0]
    after = iter(powers)
    trials = tuple(t if t.role == "warmup" else replace(t, power_avg_w=next(after)) for t in m.trials)
    one = replace(sub, measurements=(replace(m, trials=trials),))
    hashes = [str(i) for i in range(len(one.measurements))]
    return [f.code for f in fabrication.check(one, hashes, "f.json")[0]]


OFF_GRID_W = 1.23456789e-5  # moves typed values off every grid of 10^-k W (k <= 4) that the rounding rule judges


@pytest.mark.parametrize(
    ("powers", "rejected"),
    [
        ([250.0, 250.001, 249.9995, 250.0022, 250.0007], False),  # spread 1.1e-5: just above the floor
        ([250.0, 250.0001, 249.9999, 250.0002, 250.0000007], True),
        ([250.0, 250.5, 251.0, 251.5, 252.0], True),  # exact steps
        ([251.0, 250.0, 252.0, 250.5, 251.5], True),  # the same steps, shuffled
        ([250.0, 250.5, 251.0, 251.5, 252.1], False),
        ([250.0, 250.5, 251.1, 251.5, 252.0], False),  # the second step differs (the early way out)
        ([250.0, 250.5, 251.0000000001, 251.5, 252.0], True),  # steps alike within 1e-9 of the scale
    ],
)
def test_trials_too_regular_to_be_measured(valid_doc: dict[str, Any], powers: list[float], rejected: bool) -> None:
    n = sum(t["role"] != "warmup" for t in valid_doc["measurements"][0]["trials"])
    assert n == len(powers)
    off_grid = [p + OFF_GRID_W for p in powers]  # not rounded: the rule judged is the spread's or the steps'
    assert ("fabrication.too_regular" in _window_codes(valid_doc, off_grid)) is rejected


# Five irregular powers, unrounded: rounded to 4 decimals or fewer they are typed, not measured (attack v27)
IRREGULAR_W = [251.23456781, 249.87654329, 250.54321987, 252.09876543, 250.13579135]


@pytest.mark.parametrize(
    ("places", "rejected"), [(0, True), (1, True), (3, True), (4, True), (6, False), (None, False)]
)
def test_trials_rounded_by_hand(valid_doc: dict[str, Any], places: int | None, rejected: bool) -> None:
    powers = IRREGULAR_W if places is None else [round(p, places) for p in IRREGULAR_W]
    assert ("fabrication.too_regular" in _window_codes(valid_doc, powers)) is rejected


@pytest.mark.parametrize(("places", "rejected"), [(2, True), (4, True), (6, False)])
def test_durations_rounded_by_hand(valid_doc: dict[str, Any], places: int, rejected: bool) -> None:
    # eco-collect's durations are differences of a nanosecond clock: on a grid of 10^-4 s once in 10^5
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    trials = tuple(
        t if t.role == "warmup" else replace(t, duration_s=round(t.duration_s + 1.23456789e-5, places))
        for t in m.trials
    )
    one = replace(sub, measurements=(replace(m, trials=trials),))
    codes = [f.code for f in fabrication.check(one, ["0"], "f.json")[0]]
    assert ("fabrication.too_regular" in codes) is rejected


@pytest.mark.parametrize(("weight", "rejected"), [(0.5, True), (0.37, True), (1.6, True), (None, False)])
def test_trial_interpolated_from_two_others(valid_doc: dict[str, Any], weight: float | None, rejected: bool) -> None:
    # the last trial after warm-up replaced by a weighted mean (or an extension, weight 1.6) of the first two
    sub = domain.parse(valid_doc)
    m = sub.measurements[0]
    after = [j for j, t in enumerate(m.trials) if t.role != "warmup"]
    a, b = m.trials[after[0]], m.trials[after[1]]
    trials = list(m.trials)
    if weight is not None:
        trials[after[-1]] = replace(
            trials[after[-1]],
            duration_s=weight * a.duration_s + (1 - weight) * b.duration_s,
            power_avg_w=weight * a.power_avg_w + (1 - weight) * b.power_avg_w,
        )
    one = replace(sub, measurements=(replace(m, trials=tuple(trials)),))
    codes = [f.code for f in fabrication.check(one, ["0"], "f.json")[0]]
    assert ("fabrication.too_regular" in codes) is rejected


def _two_sessions_on_one_gpu(tmp_path: Path, second_start: str, second_created: str) -> set[str]:
    first, second = (
        synthetic.submission(seed=1, n_measurements=2, n_trials=7),
        synthetic.submission(seed=2, n_measurements=2, n_trials=7),
    )
    second["environment"]["gpu"] = copy.deepcopy(first["environment"]["gpu"])  # the same board
    second["session"]["started_at"], second["created_at"] = second_start, second_created
    paths = [write_json(tmp_path / "a.json", first), write_json(tmp_path / "b.json", second)]
    return {f.code for f in validate(paths, accepted_root=None).findings}


def test_one_gpu_runs_one_trial_at_a_time_across_files(tmp_path: Path) -> None:
    # both files' trials run from 11:00:01: one board cannot have run both
    assert _two_sessions_on_one_gpu(tmp_path, "2026-11-22T11:00:00Z", "2026-11-22T12:00:00Z") == {"duplicate.gpu_time"}


def test_sessions_one_after_another_on_one_gpu_pass(tmp_path: Path) -> None:
    # the first file's session is open until 12:00, but its trials ended within minutes of 11:00
    assert _two_sessions_on_one_gpu(tmp_path, "2026-11-22T11:30:00Z", "2026-11-22T12:30:00Z") == set()


def _clashes(busy: dict[str, list[tuple[float, float]]], candidates: set[str] | None = None) -> set[str]:
    pool = [Checked(name, [], f"id-{name}", gpu=("u", "H100"), busy=tuple(spans)) for name, spans in busy.items()]
    found = cross_file_findings([c for c in pool if candidates is None or c.path in candidates], pool)
    return {f.file for f in found if f.code == "duplicate.gpu_time"}


def test_a_resumed_run_leaves_its_pause_to_other_runs() -> None:
    """A run interrupted and resumed spans the pause; another run's trials inside it are real."""
    assert _clashes({"resumed": [(0.0, 10.0), (5000.0, 5010.0)], "between": [(100.0, 200.0)]}) == set()


@pytest.mark.parametrize(
    ("busy", "expected"),
    [
        # a long trial reaching past several later ones, of the same file and of another
        ({"a": [(0.0, 1000.0), (1001.0, 1002.0)], "b": [(500.0, 510.0)]}, {"a", "b"}),
        # the other file starts first and the candidate inside it: found from either side
        ({"a": [(10.0, 20.0)], "b": [(0.0, 100.0)]}, {"a", "b"}),
        # the latest end so far is the file's own: the other file's earlier trial still counts
        ({"a": [(0.0, 50.0), (60.0, 70.0)], "b": [(40.0, 65.0)]}, {"a", "b"}),
        # within the 2-s slack (start times written to the second), and just beyond it
        ({"a": [(0.0, 10.0)], "b": [(8.0, 20.0)]}, set()),
        ({"a": [(0.0, 10.0)], "b": [(7.9, 20.0)]}, {"a", "b"}),
        # one file's own trials never clash with each other here (protocol.session_time's)
        ({"a": [(0.0, 10.0), (5.0, 20.0)]}, set()),
    ],
)
def test_trials_of_two_files_on_one_board(busy: dict[str, list[tuple[float, float]]], expected: set[str]) -> None:
    assert _clashes(busy) == expected


def test_a_copy_is_left_to_duplicate_measurement() -> None:
    pool = [Checked(n, [], f"id-{n}", ["h1"], gpu=("u", "H100"), busy=((0.0, 10.0),)) for n in ("a", "b")]
    assert {f.code for f in cross_file_findings(pool, [])} == {"duplicate.measurement"}


def _noisy_copy(doc: dict[str, Any], fresh_idle: bool, times: str = "kept") -> dict[str, Any]:
    """Another contributor's copy of ``doc``: new id and board, every trial's duration, energies and
    powers moved by about 1e-5 (beyond the 6-digit trial keys and 9-digit window shapes), summaries
    recomputed; the idle baselines kept, or (``fresh_idle``) moved too; the trials' start times kept,
    ``shifted`` by one amount, or ``fresh`` (each moved by a random few milliseconds more than the one
    before)."""
    rng = random.Random(7)
    copy_ = copy.deepcopy(doc)
    copy_["submission_id"] = "copy-00000001"
    copy_["environment"]["gpu"]["uuid_sha256"] = "c" * 64
    for m in copy_["measurements"]:
        for t in m["trials"]:
            for key in ("duration_s", "energy_j", "sampler_energy_j", "power_avg_w", "power_peak_w"):
                # shorter, never longer: trials laid end to end at their old starts must not overlap
                t[key] *= 1 + rng.uniform(-4e-5, 0.0 if key == "duration_s" else 2e-5)
            t["energy_per_gpu_j"] = [t["energy_j"]]
        if fresh_idle:
            for key in ("power_before_w", "power_after_w"):
                m["idle"][key] += rng.uniform(0.1, 0.5)
            m["idle"]["power_per_gpu_before_w"] = [m["idle"]["power_before_w"]]
            m["idle"]["power_per_gpu_after_w"] = [m["idle"]["power_after_w"]]
        starts = [t["started_at_s"] for t in m["trials"]]
        synthetic.resummarize(m)  # lays the trials end to end again: starts the durations' noise moved
        late = 0.0
        for t, start in zip(m["trials"], starts, strict=True):
            late += {"kept": 0.0, "shifted": 0.0 if late else 12.345678, "fresh": rng.uniform(0.001, 0.004)}[times]
            t["started_at_s"] = start + late
    return copy_


@pytest.mark.parametrize(
    ("fresh_idle", "times", "caught"),
    [(False, "fresh", True), (True, "kept", True), (True, "shifted", True), (True, "fresh", False)],
)
def test_a_noisy_copy_keeping_the_idle_baselines_or_start_times_is_a_near_duplicate(
    tmp_path: Path, fresh_idle: bool, times: str, caught: bool
) -> None:
    # 1e-5 noise on every trial number beat duplicate.near; the idle baselines a copier leaves give it
    # away, and so do the trials' start times, kept or shifted by one amount (attack v11)
    original = synthetic.submission(seed=1, n_measurements=2, n_trials=7)
    paths = [
        write_json(tmp_path / "a.json", original),
        write_json(tmp_path / "b.json", _noisy_copy(original, fresh_idle, times)),
    ]
    findings = [f for f in validate(paths, accepted_root=None).findings if f.file.endswith("b.json")]
    # with fresh baselines and times too it looks new: what CONTRIBUTING says no number can catch
    assert {f.code for f in findings} == ({"duplicate.near"} if caught else set())


def test_a_near_duplicate_by_start_times_alone_says_so(tmp_path: Path) -> None:
    # fresh idle baselines and trials: only the start times match, and the message must name them
    original = synthetic.submission(seed=1, n_measurements=2, n_trials=7)
    paths = [
        write_json(tmp_path / "a.json", original),
        write_json(tmp_path / "b.json", _noisy_copy(original, fresh_idle=True, times="shifted")),
    ]
    (near,) = [f for f in validate(paths, accepted_root=None).findings if f.file.endswith("b.json")]
    assert near.code == "duplicate.near" and "start times" in near.message


@pytest.mark.parametrize(("times", "caught"), [("kept", True), ("shifted", False)])
def test_a_copy_too_short_for_the_interval_prints_is_found_by_its_start_pairs(
    tmp_path: Path, times: str, caught: bool
) -> None:
    # four trials: three intervals, fewer than TIMING_RUN, so only the pairs of starts, kept exactly,
    # can find it (the other start-time tests pass on the interval prints alone)
    original = synthetic.submission(seed=1, n_measurements=2, n_trials=4)
    paths = [
        write_json(tmp_path / "a.json", original),
        write_json(tmp_path / "b.json", _noisy_copy(original, fresh_idle=True, times=times)),
    ]
    findings = [f for f in validate(paths, accepted_root=None).findings if f.file.endswith("b.json")]
    # (four trials are stats.too_few_trials too, in both files: beside the point here)
    assert ("duplicate.near" in {f.code for f in findings}) is caught


@pytest.mark.parametrize("uptime_s", [0.0, 3_456_789.123])
def test_start_times_from_a_clock_of_whole_milliseconds_are_no_fingerprint(uptime_s: float) -> None:
    # time.monotonic on Windows before Python 3.13 moves in 15.625-ms ticks: two honest sessions of one
    # schedule, their intervals' millisecond jitter rounded away, shared every interval print
    # (/work/notes/review25/coarse_clock.py: 93-100 % of simulated pairs)
    m = domain.parse(synthetic.submission(seed=1, n_measurements=1, n_trials=10)).measurements[0]

    def monotonic(true_s: float, coarse: bool) -> float:
        return round(true_s // 0.015625 * 15.625) / 1e3 if coarse else true_s  # GetTickCount64 / 1000

    def read_at(coarse: bool) -> domain.Measurement:
        session_t0 = monotonic(uptime_s, coarse)
        starts = [monotonic(uptime_s + 0.02 + t.started_at_s, coarse) - session_t0 for t in m.trials]
        return replace(m, trials=tuple(replace(t, started_at_s=s) for t, s in zip(m.trials, starts, strict=True)))

    assert fabrication.timing_prints(read_at(coarse=True)) == []
    assert len(fabrication.timing_prints(read_at(coarse=False))) == 9 + 6  # a nanosecond clock's: every pair and run


def _long_requests(doc: dict[str, Any], tok_s: float, net_j_per_step: float) -> list[str]:
    """The first measurement as batch 56 of 8,192 new tokens a request (Mistral-7B fp16 on an H100),
    decoding at ``tok_s`` with ``net_j_per_step`` joules above the lower idle window per decode step;
    the codes hardware.check finds."""
    ref = reference.default()
    sub = domain.parse(doc)
    m = sub.measurements[0]
    assert m.idle is not None
    protocol = replace(sub.protocol, output_tokens=8_192)
    trials = []
    for t in m.trials:
        tokens, steps = 56 * 8_192 * t.requests, 8_192 * t.requests
        duration = tokens / tok_s
        energy = m.idle.lower_power_w * duration + net_j_per_step * steps
        trials.append(
            replace(t, generated_tokens=tokens, duration_s=duration, energy_j=energy, power_avg_w=energy / duration)
        )
    long = replace(sub, protocol=protocol, measurements=(replace(m, batch_size=56, trials=tuple(trials)),))
    return [f.code for f in hardware.check(long, "f.json", ref)]


@pytest.mark.parametrize(("tok_s", "rejected"), [(5_000.0, False), (8_000.0, True)])
def test_the_roofline_counts_the_kv_cache_a_step_reads(valid_doc: dict[str, Any], tok_s: float, rejected: bool) -> None:
    # 14.5 GB of weights and 30.5 GB of cache a step: 4,168 tok/s at most (x 1.25: 5,210); the
    # weights-only bound allowed 16,194
    assert ("physics.roofline" in _long_requests(valid_doc, tok_s, 1.5)) is rejected


@pytest.mark.parametrize(("net_j_per_step", "rejected"), [(0.8, True), (1.0, False)])
def test_the_read_floor_counts_the_kv_cache_a_step_reads(
    valid_doc: dict[str, Any], net_j_per_step: float, rejected: bool
) -> None:
    # reading 45 GB a step costs at least 0.9 J at 20 pJ/byte; the weights alone, 0.29 J
    assert ("physics.energy_floor" in _long_requests(valid_doc, 4_000.0, net_j_per_step)) is rejected


def test_a_recorded_sliding_window_caps_the_cache_read() -> None:
    spec = reference.default().models["mistralai/Mistral-7B-Instruct-v0.2"]
    protocol = domain.parse(synthetic.submission(seed=3, n_measurements=1)).protocol
    long = replace(protocol, prompt_tokens=64, output_tokens=8_193)
    assert capacity._mean_cached_tokens(spec, long) == 64 + 4_096
    windowed = replace(spec, hyperparameters={**spec.hyperparameters, "sliding_window": 4_096})
    assert capacity._mean_cached_tokens(windowed, long) == 4_096
    off = replace(spec, hyperparameters={**spec.hyperparameters, "sliding_window": 4_096, "use_sliding_window": False})
    assert capacity._mean_cached_tokens(off, long) == 64 + 4_096


@pytest.mark.parametrize(
    ("first_start_s", "tail_s", "rejected"),
    [(5.0, 5.0, False), (3.1, 5.0, False), (2.9, 5.0, True), (5.0, 3.1, False), (5.0, 2.9, True)],
)
def test_idle_windows_fit_before_the_first_trial_and_after_the_last(
    valid_doc: dict[str, Any], first_start_s: float, tail_s: float, rejected: bool
) -> None:
    """eco-collect measures an idle window (5 s here) ahead of the first trial and after the last: a
    trial within the session's first or last window is not a run it made (2 s of clock slack)."""
    from validator import timeline

    sub = domain.parse(valid_doc)
    spans = [(t.started_at_s, t.duration_s) for m in sub.measurements for t in m.trials]
    shift = first_start_s - min(start for start, _ in spans)
    moved = tuple(
        replace(m, trials=tuple(replace(t, started_at_s=t.started_at_s + shift) for t in m.trials))
        for m in sub.measurements
    )
    end = max(start + shift + d for start, d in spans)
    assert sub.session is not None and sub.protocol.idle_window_s == 5.0
    session = replace(sub.session, wall_s=end + tail_s)
    shifted = replace(sub, measurements=moved, session=session)
    found = timeline._idle_windows(shifted, "f.json", timeline.trial_spans(shifted))
    assert bool(found) is rejected and all(f.code == "protocol.session_time" for f in found)
