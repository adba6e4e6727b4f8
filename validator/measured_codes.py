"""The catalogue's codes for what the measured numbers say: statistics, physics, quality, the
protocol kept, fabricated and duplicated data (``codes.py`` holds the rest and the rules for codes)."""

from __future__ import annotations

from .codes import Code, error, warning

MEASURED_CODES: tuple[Code, ...] = (
    error(
        "stats.too_few_trials",
        "fewer measured trials than the protocol minimum",
        "measure at least gates.min_trials trials",
    ),
    error(
        "stats.window",
        "trial roles do not form warm-ups then one window of consecutive measured trials",
        "keep every trial in order; mark the gate window 'measured'",
    ),
    error(
        "stats.mismatch",
        "a summary value differs from the one recomputed from the trials",
        "never edit summaries by hand",
    ),
    error(
        "stats.gate_mismatch",
        "gate outcome or status disagrees with the recomputed gates",
        "status is ok only when every gate passes",
    ),
    error("stats.gates_loosened", "gate thresholds looser than the project's", "measure with the default gates"),
    error(
        "physics.power_range",
        "average power (a trial's or NVML's 1-s average), of the GPUs together or of one, is not within "
        "(0, 1.05 x enforced limit]: the driver's limiter holds the average at the limit; or NVML's 1-s "
        "average, or the trial's average power (a warm-up's too), is below half the boards' lower idle window (a "
        "powered board draws its idle); or over a trial of "
        "2 s or more is not within 0.5-1.5 x the range of the trial's power and the "
        "power before it, or above its reach of the window's peak (plus 5 %) and the limit (1.5/d of a d-s "
        "window's mean reaches before it), or not a mean of whole-mW readings over the window's samples",
        "check the GPU index, the sampler and the enforced limit NVML reports",
    ),
    error(
        "physics.power_limits",
        "power limits contradict each other, exceed what the board accepts or are not the board's default",
        "record the limits as NVML reports them",
    ),
    error(
        "physics.peak_power",
        "peak power below the average, beyond 1.5 x the board's maximum, or not whole milliwatts",
        "check the sampler; never edit trials by hand",
    ),
    error(
        "physics.clocks",
        "clocks below 100 MHz (below any board's idle), beyond what the board reaches, or not a mean of whole-MHz "
        "readings over the window's samples",
        "check the sampler's clock readings",
    ),
    error(
        "physics.sample_count",
        "power samples do not add up to duration x sample rate, exceed the requested rate, or (in a warm-up too short "
        "for an average) fall below half of it and below the rate less one sampler stall eco-collect lets pass (1 s)",
        "never edit the sampler's counts by hand",
    ),
    error(
        "physics.energy_power",
        "energy differs from average power x duration by more than 5 %, exceeds (a short warm-up) what the limit "
        "allows, is not whole mJ (counter), or the sampler's is not its power x duration",
        "check the energy source",
    ),
    error(
        "physics.energy_bias",
        "over the gate window, the trials' energies differ from their power x duration by more than 5 % in sum",
        "check the energy source and the sampler: a counter read at other moments than the window's edges",
    ),
    error(
        "physics.batch_scaling",
        "a larger batch decodes each sequence more than twice as fast as a smaller batch of the same model, "
        "weights, precision and engine in the file",
        "check the batch sizes, token counts and durations; never edit trials by hand",
    ),
    error(
        "physics.batch_throughput",
        "a larger batch decodes under 0.9 x the tokens a second (in all) of a smaller batch of at most 8 of the same "
        "model, weights, precision and engine in the file (bitsandbytes 4-bit against batch 1 aside)",
        "check the batch sizes, token counts and durations; never edit trials by hand",
    ),
    error(
        "physics.batch_power",
        "a larger batch draws under 0.8 x the average power of a smaller batch of at most 8 of the same model, "
        "weights, precision and engine in the file, or of the same on generate(), whose host paces the board",
        "check the power readings and the GPU index; never scale one row's power or energies by hand",
    ),
    error(
        "physics.int8_outliers",
        "an LLM.int8() row (int8: outlier threshold 6) decodes over 1.1 x the tokens a second of the int8-pure row "
        "(threshold 0) of the same model, weights, engine and batch in the file, or claims the cuda-graph engine, "
        "which cannot capture it",
        "check the precision labels, engines, token counts and durations; never edit trials by hand",
    ),
    error(
        "physics.precision_twins",
        "twin precisions of the same model, weights, engine, batch and placement whose trials alternate in time "
        "(an interleaved run) decode at different speeds: bf16 over 1.25 x fp16, fp4 outside 0.8-1.25 x nf4, or "
        "nf4-dq over 1.25 x nf4 (the median ratio of trials next to each other in time)",
        "check the precision labels, token counts and durations; never edit trials by hand",
    ),
    error("physics.throughput", "summary throughput differs from tokens / duration", "never edit trials by hand"),
    error(
        "physics.token_count",
        "generated tokens != batch x output tokens x requests",
        "force min_new_tokens == max_new_tokens",
    ),
    error("physics.net_energy", "net energy exceeds gross energy", "idle power cannot be negative"),
    error(
        "physics.idle_power",
        "idle power (the lower of its two windows) is not clearly below loaded power",
        "measure idle with no other load on the GPU",
    ),
    error(
        "physics.idle_range",
        "idle power outside the board's plausible idle range",
        "measure idle with no other load on the GPU; check the GPU index",
    ),
    error(
        "physics.idle_step",
        "on a data-centre board with HBM, the idle window after one group of rows (one row in a sequential run) and "
        "the one before the next group, with no trial between and its first trial at most 300 s after the last, "
        "differ by more than 1.2 x (or 15 W per GPU, where that is more)",
        "measure idle with no other load on the GPU; never raise one row's idle windows by hand",
    ),
    error(
        "physics.memory_fit",
        "the model's weights at this precision and its KV cache do not fit in the memory of the GPUs used",
        "check the model, precision and placement",
    ),
    error(
        "physics.roofline",
        "decode throughput above the memory-bandwidth roofline of the board",
        "check the token count and the GPU; a real decode step reads every weight and the batch's KV cache once",
    ),
    error(
        "physics.compute_roofline",
        "the tokens' arithmetic (2 FLOPs per parameter a token, embedding left out) faster than the board's dense "
        "tensor peak, or than that peak at the trial's own mean SM clock (windows of 10 samples or more)",
        "check the token count, the batch size and the GPU",
    ),
    error(
        "physics.energy_floor",
        "energy above idle below what reading the weights and KV cache once per decode step (20 pJ/byte), or the tokens' "
        "arithmetic (0.2 pJ per FLOP), costs",
        "measure idle with nothing else on the GPU, and check the energy counter and the token count",
    ),
    error(
        "quality.perplexity",
        "perplexity recorded for random weights, outside (1, vocabulary size], not over eco-collect's tokens, or "
        "not the same in every row of a precision (one corpus, one measurement per precision loaded)",
        "let eco-collect measure perplexity, and only for pretrained weights",
    ),
    error("physics.temperature", "temperature outside 10-100 C or not whole degrees", "check the sensor readings"),
    error(
        "physics.host_load",
        "host load average off the kernel's steps of 1/2048 and /proc/loadavg's hundredths, or falling faster "
        "between two trials than the kernel's 1-minute average decays (1884/2048 every 5 s)",
        "record the load average as os.getloadavg() gives it (eco-collect does); never edit trials by hand",
    ),
    error(
        "physics.per_gpu_sum",
        "per-GPU energies do not add up to the trial energy, or are not one per GPU (eco-collect 0.1.0-0.5.0 without "
        "an energy counter: one, the trial's, however many GPUs)",
        "never edit trials by hand",
    ),
    error(
        "physics.board_below_idle",
        "a GPU holds less than half its idle draw over a trial (a warm-up too)",
        "measure every GPU the model runs on with eco-collect; never edit trials by hand",
    ),
    error(
        "physics.board_above_idle",
        "a GPU that holds no module of the model draws more than 1.25 x its idle (or 10 W above it, where that is more) over a trial (a warm-up too)",
        "let eco-collect record the placement and measure every GPU; never edit trials by hand",
    ),
    warning(
        "physics.counter_sampler",
        "energy counter and integrated sampled power disagree by more than 5 % plus 0.1 s of power (the counter's step)",
        "check for a second process on the GPU",
    ),
    error(
        "protocol.engine_mismatch",
        "engine fields contradict the named engine (cache, compiled, CUDA graph, prefill) or the row (attention "
        "'not loaded' on a row that ran), or rows that loaded the model name two attention implementations, or one "
        "eco-collect never asks for (it asks for sdpa)",
        "let eco-collect record the engine",
    ),
    error(
        "protocol.token_check",
        "an engine other than generate() was measured with token ids that differ from generate()'s where generate() "
        "reproduces itself, or without a check, or generate() or a row whose model never loaded carries a check, or a "
        "check's ids hash is another row's (of the file, of an accepted one or of another file checked with it) of "
        "another token count",
        "measure with a released eco-collect: it compares every engine's tokens with generate()'s first",
    ),
    warning(
        "protocol.token_agreement",
        "a CUDA-graph row whose token ids equal generate()'s only as far as generate() reproduces itself",
        "expected on GPUs whose kernels are not bitwise reproducible at that batch size; a short agreement "
        "(a few steps) deserves a second look",
    ),
    error(
        "protocol.stop_reason",
        "stopped_by does not fit the status, the trial budget or the early-stop rule, or trials follow a stop",
        "never edit stopped_by or the trials by hand",
    ),
    error(
        "protocol.session_time",
        "session wall time, created_at and the trials' start times do not add up, rows of a run that says it "
        "measured one configuration after another alternate in time, or durations and start times finer than the "
        "whole milliseconds its host's clock reads (Windows with Python before 3.13)",
        "check the clock of the measuring machine; never edit timings by hand",
    ),
    error(
        "protocol.placement",
        "modules placed on GPUs that were not measured, the whole model ('') beside single modules, or per-GPU idle power that does not add up (eco-collect "
        "0.1.0-0.5.0 without an energy counter: one per GPU, each board's mean of samples, not held to the total)",
        "let eco-collect record the placement and the idle windows",
    ),
    error(
        "protocol.mig_enabled",
        "measured on a GPU with MIG enabled: NVML's power and energy counters cover the whole board, not the slice",
        "disable MIG (nvidia-smi -i <gpu> -mig 0) and measure on the whole board",
    ),
    error(
        "protocol.settings",
        "a protocol setting the named eco-collect release cannot write: output tokens beyond its --output-tokens "
        "range (1-4096), gate thresholds or an early-stop rule other than its constants",
        "measure with a released eco-collect and submit its protocol as it wrote it, never edited",
    ),
    error(
        "protocol.warmup",
        "fewer warm-up trials than warmup.min_trials or more than warmup.max_trials or than settling takes, or a "
        "warm-up setting the named eco-collect release does not write (0.5.0-0.6.0: 2-2 trials, settled within 2 %)",
        "never drop or add warm-up trials, or edit the protocol, by hand",
    ),
    error(
        "protocol.trial_budget",
        "more trials after warm-up than gates.max_trials, a minimum above its maximum, or a budget below the 5 "
        "that eco-collect's --max-trials allows",
        "keep every trial the collector wrote, and only those; set the budget with --max-trials",
    ),
    error(
        "protocol.trial_duration",
        "a trial after warm-up under half of trial_min_duration_s, a minimum below 1 s, or requests warm-up never sized",
        "measure with the protocol's trial length (4 s by default)",
    ),
    error(
        "protocol.trial_gap",
        "most of a row's trials are followed by the next trial only after more than 0.25 s, with no idle window, "
        "trial left out or failed attempt (a trial eco-collect notes it measured again) to fill the gap, where "
        "eco-collect starts the next one within milliseconds",
        "submit the durations and start times eco-collect timed; never shorten trials or move them by hand",
    ),
    error(
        "protocol.idle_window",
        "idle-baseline windows shorter than 1 s or other than the named eco-collect release's (5 s from 0.2.0), or "
        "rows measured together (their trials alternate) that do not share the idle windows measured around them, or "
        "a skipped row (no trials) with an idle baseline",
        "measure idle with eco-collect's protocol (5-s windows); a skipped row's idle is null",
    ),
    error(
        "protocol.sample_period",
        "sample_period_s outside 0.001-0.1 s, or other than eco-collect's 0.05 s in a file that names it",
        "sample power at least every 0.1 s (eco-collect samples every 0.05 s)",
    ),
    error(
        "fabrication.zero_variance",
        "trials after warm-up with identical durations (not on Windows before Python 3.13, whose clock reads whole "
        "milliseconds), energies or powers, or GPUs that read the same energy in every one",
        "real trials always differ; re-measure",
    ),
    error(
        "fabrication.repeated_trials",
        "the same trial appears twice in the file, as it is or nudged (duration and average power within 1e-7 of "
        "each other)",
        "submit every trial once; re-measure instead of copying",
    ),
    error("duplicate.measurement", "the same measurement appears twice", "submit each measurement once"),
    error(
        "duplicate.submission_id",
        "submission_id already used by another file",
        "every submission needs a fresh id",
    ),
    error(
        "fabrication.too_regular",
        "trials too regular to be measured: sensor readings within 0.001 %, values in exact steps, every "
        "duration or average power rounded to 4 decimals or fewer, a trial on the line through two others (their "
        "mean) in duration and power, three stepping as three others of the row do (to 2e-7), or a file whose every "
        "idle baseline or trial start time is so rounded. On Windows before Python 3.13, whose clock reads whole "
        "milliseconds: durations and start times at 4 decimals, or the file's 7 or more distinct ones at 2 or fewer, "
        "idle not judged, durations in no steps; powers of a reading that stood still (average equal to peak), at "
        "whole watts. Three pairs of trials one right after the other whose readings each stood still at a value of "
        "their own, most of the back-to-back pairs with a reading that stood still",
        "real trials carry timer, counter and sampler noise: re-measure",
    ),
    error(
        "duplicate.configuration",
        "the same configuration (model, revision, weights, precision, engine, batch size) twice in one file",
        "keep one measurement per configuration; a repeat is a new session",
    ),
    error(
        "duplicate.near",
        "a measurement's trials repeat or rescale (three in a row stepping as three of another do, or its sorted values "
        "spaced as another's, to 2e-7; four of a gate window as four of another file's, or its gate window sorted as "
        "another file's, to 1e-6), or its idle baseline "
        "or trial start times repeat, another measurement's",
        "submit new measurements only",
    ),
    error(
        "duplicate.gpu_time",
        "a trial overlaps a trial of another file on the same GPU (uuid hash)",
        "one GPU runs one trial at a time: submit each run once, with the times it was measured at",
    ),
    error(
        "duplicate.gpu_identity",
        "the same GPU uuid hash names another GPU model in another file",
        "record the GPU as NVML reports it",
    ),
)
