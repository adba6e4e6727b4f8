"""What NVML's units and eco-collect's sampler make of every trial's readings (collector/nvml.py and
collector/sampler.py, unchanged in this since the first collector commit b8cfd7c):

- NVML reads temperatures in whole degrees C, so a window's highest is a whole number;
- it reads power in whole milliwatts, so a window's peak sample is a whole number of mW;
- its energy counter counts whole millijoules, so each board's counter difference is whole mJ (to the
  rounding of two counter readings since the driver loaded, divided by 1,000: under 0.05 mJ for a
  counter below 2^38 J, about 2.7 x 10^11 J: 8 years at 1 kW);
- the sampler's average power is its integrated energy over the window: sampler_energy_j is
  power_avg_w x duration_s (under power_integration, with no counter, the trial's energy is);
- (the sampler's rate is its samples over the window: physics.sample_count holds that to 1e-6.)
- a window's clocks are the mean of its samples' whole-MHz readings (each sample the mean over the boards),
  and NVML's 1-s average the mean of its samples' whole-mW readings (summed over the boards): times the
  samples (the one reading after the window where none lies inside) and the boards, each is a whole number
  (the 1-s average's mean leaves out a sample whose field read failed, so its count may be any from 1 up);
- the host's load average is os.getloadavg()'s: the kernel keeps it in steps of 1/2048 (a libc that asks
  sysinfo() returns those) or /proc/loadavg prints it in hundredths (a libc that parses that file).

Every trial of the real files (1,987, eco-collect 0.1.0-0.5.0) holds each of these to float rounding
(mJ within 5e-8, mW within 2e-10, the product within 3e-16; attack v6: all 2,054 trials of eco-collect
0.1.0-0.5.0 hold the clock and 1-s average means to 1.5e-8 of a whole sum, and every load average is
a multiple of 1/2048); a made-up reading holds them by chance only. Risk: a driver that reports power as a double field (the collector reads one as it comes).
"""

from __future__ import annotations

from fractions import Fraction

from packaging.version import Version

from ecocompute import catalogue
from ecocompute.domain import Submission, Trial

from . import versions
from .findings import Finding, make

COUNTER_MJ_SLACK = 0.05  # of a millijoule: the float rounding of a counter difference (see above)
PEAK_MW_SLACK = 1e-4  # of a milliwatt: a sum of at most 64 boards' readings
IDENTITY = 1e-9  # relative: one product of two floats, written and read back
# A mean of whole readings times its count: a float sum and a division undone, so a few ulps of the
# sum (4e-16 relative at most); 1e-12 relative (or 1e-6 absolute) leaves a made-up value ~2e-6 odds.
MEAN_SLACK, MEAN_FLOOR = 1e-12, 1e-6
# The 1-s average's mean leaves out a sample whose field read failed (0.2.0-0.5.0: that sample, however
# many fail; 0.1.0: every sample after the first failure, the field switched off for the rest of the run),
# so it is a mean of any number of whole-mW readings from 1 to the window's samples (review 22).
LOAD_STEPS = (65536, 100)  # sysinfo()'s fixed point (the kernel's 1/2048 steps within it), /proc/loadavg's
COLLECTOR = "eco-collect"  # whose sampler and NVML reads these are
# Without an energy counter (power_integration), eco-collect 0.1.0-0.5.0 wrote the window's integral of
# the boards' summed power as the one per-GPU energy, however many boards (collector/runner.py:
# ``(window.energy_j,)``, the very float of energy_j), and each board's idle as the mean of its samples
# inside the window while the idle total is the integral over the window / its duration, its ends
# interpolated towards the readings beside it. The two sum apart wherever the readings vary: by uneven
# spacing (the real summarize_window, 5-s windows at 20 Hz: up to 2.5e-3 with readings rippling +-10 %,
# 2.5e-2 with one-second stalls on top), and by the edges, which reach into the trial just before (a
# 1-s window after a 250 W trial on a 70 W idle: 6 %). Nothing in the file bounds that, so such a file's
# per-GPU idle is held to its count and the board's idle range (physics.idle_range), not to the total; a
# file of one sum over several boards has no board's share for the per-board bounds to judge. Later
# versions integrate each board's power (review 22 F5).
LAST_ONE_SUM_VERSION = Version("0.5.0")


def one_sum_without_counter(sub: Submission) -> bool:
    """Whether the file is eco-collect 0.1.0-0.5.0's under power_integration (see above)."""
    return sub.protocol.energy_method == catalogue.ENERGY_INTEGRATED and versions.collector_at_most(
        sub, LAST_ONE_SUM_VERSION
    )


def check(sub: Submission, file: str) -> list[Finding]:
    if sub.collector_name != COLLECTOR:  # another collector's units are its own: provenance.collector names it
        return []
    counter = sub.protocol.energy_method == catalogue.ENERGY_COUNTER
    boards = max(1, sub.environment.gpu.count)  # the sampler's boards (per-GPU energies: one without a counter)
    out: list[Finding] = []
    for i, m in enumerate(sub.measurements):
        for j, t in enumerate(m.trials):
            problem = _trial(t, counter, boards)
            if problem:
                code, field, message = problem
                out.append(make(code, file, f"/measurements/{i}/trials/{j}/{field}", message))
    return out


def _whole_sum(mean: float, count: int) -> bool:
    """Whether ``mean`` x ``count`` is a whole number: a mean of ``count`` whole readings."""
    total = mean * count
    return abs(total - round(total)) <= max(MEAN_FLOOR, MEAN_SLACK * abs(total))


def _mean_of_some(mean: float, most: int) -> bool:
    """Whether ``mean`` is a mean of 1 to ``most`` whole readings: the nearest fraction with a denominator
    of at most ``most`` lies within float rounding of it (an honest mean's own count: a few ulps off)."""
    whole = round(mean * most)  # first the usual case, every sample read the field: no closer fraction
    if abs(mean - whole / most) <= MEAN_SLACK * abs(mean):  # is needed (a Fraction costs 20 us a trial)
        return True
    nearest = Fraction(mean).limit_denominator(most)
    return abs(mean - nearest.numerator / nearest.denominator) <= MEAN_SLACK * abs(mean)


def _means(t: Trial, boards: int) -> tuple[str, str, str] | None:
    """Clocks and NVML's 1-s average as the sampler averages NVML's whole readings over the window."""
    used = max(1, t.power_samples)  # no sample inside: the one reading just after the window
    for name, value in (("sm_clock_mhz_mean", t.sm_clock_mhz_mean), ("mem_clock_mhz_mean", t.mem_clock_mhz_mean)):
        if not _whole_sum(value * boards, used):
            return (
                "physics.clocks",
                name,
                f"{value} MHz over {used} sample(s) of {boards} board(s) is not a mean of whole-MHz readings (NVML "
                "reads clocks in whole MHz; eco-collect averages the window's samples)",
            )
    average = t.power_nvml_avg_1s_w
    if average is not None and not _mean_of_some(average * 1000.0, used):
        return (
            "physics.power_range",
            "power_nvml_avg_1s_w",
            f"NVML's 1-s average {average} W is not a mean of whole-mW readings over at most {used} sample(s) (NVML "
            "reads the field in milliwatts; eco-collect averages the window's samples that read it)",
        )
    load = t.cpu_load_1m
    if load is not None and not any(_off(load, 1.0 / steps) <= MEAN_FLOOR for steps in LOAD_STEPS):
        return (
            "physics.host_load",
            "host/cpu_load_1m",
            f"load average {load}: the kernel keeps it in steps of 1/2048 (sysinfo) and /proc/loadavg prints "
            "hundredths; os.getloadavg() returns one of those",
        )
    return None


def _off(value: float, unit: float) -> float:
    """How far ``value`` lies from a whole number of ``unit``, in units."""
    units = value / unit
    return abs(units - round(units))


def _trial(t: Trial, counter: bool, boards: int) -> tuple[str, str, str] | None:
    if t.temperature_max_c != round(t.temperature_max_c):
        return "physics.temperature", "temperature_max_c", f"{t.temperature_max_c} C: NVML reads whole degrees"
    if _off(t.power_peak_w, 1e-3) > PEAK_MW_SLACK:
        return "physics.peak_power", "power_peak_w", f"peak {t.power_peak_w} W: NVML reads power in whole milliwatts"
    product = t.power_avg_w * t.duration_s
    sampled = t.sampler_energy_j if counter else t.energy_j
    name = "sampler_energy_j" if counter else "energy_j"
    if sampled is None or abs(sampled - product) > IDENTITY * max(abs(sampled), abs(product)):
        return (
            "physics.energy_power",
            name,
            f"{name} {sampled}, but the sampler's average power x duration is {product} ({t.power_avg_w} W x "
            f"{t.duration_s} s): eco-collect's average is the sampler's energy over the window"
            + (" (and the energy counter comes with the sampler's energy)" if counter else ""),
        )
    if counter:
        for k, board_j in enumerate(t.energy_per_gpu_j):
            if _off(board_j, 1e-3) > COUNTER_MJ_SLACK:
                return (
                    "physics.energy_power",
                    f"energy_per_gpu_j/{k}",
                    f"GPU {k}: {board_j} J, not a whole number of millijoules (NVML's energy counter counts them)",
                )
    return _means(t, boards)
