"""Claims checked against the world: the board, the model and the prompt, from the reference tables
in ``ecocompute.reference`` (not from the file's own claims); what the board's memory allows the
model (the roofline and the energy floors) is capacity.py's.

False-positive risk of each rule, in words, sits beside its constant; CONTRIBUTING repeats it.
"""

from __future__ import annotations

from ecocompute import catalogue
from ecocompute.domain import Measurement, Submission
from ecocompute.reference import GpuSpec, ModelSpec, Reference, seeded_tokens

from . import capacity
from .findings import Finding, make

# NVML reports the memory left after ECC and driver reservations: 93-100 % of the datasheet figure on
# the boards we know (T4 with ECC 15,360 of 16,384 MiB; H100 81,559 of 81,920). Risk: a board that
# reserves more than 10 %.
MEMORY_FRACTION = (0.90, 1.0)
# NVML's instant power field averages over milliseconds; a sampled peak far above the board's limit
# is not a reading. Risk: desktop boards with extreme transients read at the instant they happen.
PEAK_FACTOR = 1.5
POWER_LIMIT_SLACK_W = 1.0  # NVML reports limits in mW; partner boards round theirs
# NVML's memory clock is the datasheet bandwidth over the bus at two transfers a clock (bandwidth x
# 4,000 / bus bits MHz): the real files read 1.00 x it on the H100 SXM and 1.02 x on the H200, whose
# datasheets round their bandwidth down; memory does not boost, but desktop GDDR6X/GDDR7 is overclocked
# by hand (+1,000 MHz on a 3090 reads 1.10 x, +1,500-2,000 on a 4090 up to 1.19 x), and such a run is still
# a measurement. Risk: a memory overclock beyond 25 %. A measured trial keeps its memory at full clock (desktop
# boards run compute a step lower, P2: 2-3 % less); half of it is a board idling, not decoding.
MEMORY_CLOCK_FACTOR = 1.25
LOADED_MEMORY_CLOCK_FRACTION = 0.5
# HBM (1,024 bits a stack; no GDDR board has more than 512) on a data-centre board runs at one memory
# clock: nobody overclocks it by hand and it does not step down (every trial of the real files, warm-ups
# too, reads 2,619 MHz on the H100 and 3,201 on the H200: 1.00 x and 1.02 x the datasheets'). An H200
# file relabelled H100 (1.22 x) or an H100 file relabelled H200 (0.84 x) passed the desktop limits.
# Risk: a datasheet that misstates its bandwidth by more than 10 % (fix the row).
HBM_BUS_BITS = 1024
HBM_MEMORY_CLOCK = (0.9, 1.1)
# The default limit is the board's own (datasheet TDP; PCIe variants ship at up to 15 % less); half
# of it is no variant of that board. The enforced limit may be set lower on purpose: not judged.
DEFAULT_LIMIT_FRACTION = 0.5
PARAMETER_TOLERANCE = 0.01  # num_parameters() of another transformers version may count a buffer more
# eco-collect's perplexity predicts every token of the corpus's first 4,096 but the first (windows of
# 1,024 share one token): 4,095 at most, and exactly that on WikiText-2's test split (over 240,000
# words under any tokenizer). Risk: none while the collector's cap stays (a test ties the two).
PERPLEXITY_TOKENS = 4095
WIKITEXT = "wikitext-2-raw-v1/test"  # the corpus name eco-collect records for --quality wikitext
MAX_SEEDED_TOKENS = 65_536  # recomputing seeded ids is linear in their number: bounded before hashing
# eco-collect measures perplexity once per precision as it loads the model, on the session's one corpus
# (collector/schedule.py: Schedule.quality[precision], written into every row of that precision; a
# precision loaded again, after a release or on --resume, recomputes it on the same weights, corpus and
# board). So one file names one corpus, one tokenizer counts its tokens alike in every row of a model,
# every row that ran carries it or none does, and rows of one model and precision agree. 0.1 % leaves a
# recomputation's float noise (kernels that reduce in another order) far behind.
PERPLEXITY_AGREEMENT = 1e-3


def check(sub: Submission, file: str, ref: Reference) -> list[Finding]:
    findings: list[Finding] = []
    board = _board(sub, file, ref, findings)
    models: dict[str, ModelSpec | None] = {}
    for i, m in enumerate(sub.measurements):
        base = f"/measurements/{i}"
        if m.model.id not in models:  # an unknown model is reported once
            models[m.model.id] = ref.models.get(m.model.id)
            if models[m.model.id] is None:
                findings.append(
                    make(
                        "reference.unknown_model", file, f"{base}/model/id", f"{m.model.id!r} is not in the model table"
                    )
                )
        spec = models[m.model.id]
        if spec is not None:
            findings += _architecture(m, spec, base, file) + _quality(m, spec, base, file)
        if m.is_skipped:
            continue
        if board is not None:
            findings += _board_power(sub, m, board, base, file)
            if spec is not None:
                findings += capacity.check(sub, m, board, spec, base, file)
    findings += _prompt(sub, models, file, ref) + _qualities(sub, file)
    return findings


def _qualities(sub: Submission, file: str) -> list[Finding]:
    """The rows' perplexities are one measurement per precision on one corpus (PERPLEXITY_AGREEMENT). A skipped
    row that loaded its precision carries that precision's too (a published column): held to it where it has one."""
    pretrained = [(i, m) for i, m in enumerate(sub.measurements) if m.model.weights == "pretrained"]
    ran = [(i, m) for i, m in pretrained if not m.is_skipped]
    measured = [(i, m, m.quality) for i, m in pretrained if m.quality is not None]
    if not measured:
        return []
    first_i, _, first = measured[0]
    without = [i for i, m in ran if m.quality is None]
    if without:
        return [
            make(
                "quality.perplexity",
                file,
                f"/measurements/{without[0]}/quality",
                f"no perplexity here, but /measurements/{first_i} has one: eco-collect measures it for every "
                "precision it loads when --quality is given, and writes it into every row of that precision",
            )
        ]
    seen: dict[tuple[str, str, str], tuple[int, float]] = {}
    tokens: dict[str, tuple[int, int]] = {}
    for i, m, q in measured:
        where = f"/measurements/{i}/quality"
        why = None
        if (q.corpus, q.corpus_sha256) != (first.corpus, first.corpus_sha256):
            why = f"corpus {q.corpus!r} ({q.corpus_sha256[:12]}...) but /measurements/{first_i} names {first.corpus!r} ({first.corpus_sha256[:12]}...): a run has one --quality corpus"
        elif tokens.setdefault(m.model.id, (i, q.tokens))[1] != q.tokens:
            j, n = tokens[m.model.id]
            why = f"{q.tokens} tokens, but /measurements/{j} counts {n} of the same corpus with the same tokenizer"
        else:
            j, value = seen.setdefault((m.model.id, m.model.revision, m.precision), (i, q.value))
            if abs(q.value - value) > PERPLEXITY_AGREEMENT * value:
                why = (
                    f"perplexity {q.value}, but /measurements/{j} of the same model and precision {m.precision} has "
                    f"{value}: eco-collect measures it once per precision and writes it into each row of it"
                )
        if why:
            return [make("quality.perplexity", file, where, why)]
    return []


def _board(sub: Submission, file: str, ref: Reference, out: list[Finding]) -> GpuSpec | None:
    gpu = sub.environment.gpu
    where = "/environment/gpu"
    if gpu.power_limit_enforced_w > gpu.power_limit_max_w or gpu.power_limit_default_w > gpu.power_limit_max_w:
        out.append(
            make(
                "physics.power_limits",
                file,
                f"{where}/power_limit_max_w",
                f"enforced {gpu.power_limit_enforced_w} W and default {gpu.power_limit_default_w} W cannot exceed "
                f"the maximum limit {gpu.power_limit_max_w} W",
            )
        )
    if gpu.mig_mode == "enabled":  # NVML's power and energy are the whole board's, whatever slice ran
        out.append(
            make(
                "protocol.mig_enabled",
                file,
                f"{where}/mig_mode",
                f"MIG is enabled on the {gpu.name}: NVML's power and energy counters cover the whole board, not "
                "the slice this process ran on, so no energy of this file is the model's",
            )
        )
    board = ref.gpus.get(gpu.name)
    if board is None:
        out.append(make("reference.unknown_gpu", file, f"{where}/name", f"{gpu.name!r} is not in the GPU table"))
        return None
    wrong = []
    if gpu.architecture != board.architecture:
        wrong.append(f"architecture {gpu.architecture!r} (the board is {board.architecture!r})")
    if gpu.compute_capability != board.compute_capability:
        wrong.append(f"compute capability {gpu.compute_capability} (the board has {board.compute_capability})")
    lo, hi = MEMORY_FRACTION
    if not lo * board.memory_mib <= gpu.memory_total_mib <= hi * board.memory_mib:
        wrong.append(
            f"memory {gpu.memory_total_mib} MiB (the board has {board.memory_mib} MiB; NVML shows "
            f"{lo:.0%}-{hi:.0%} of it)"
        )
    if wrong:
        out.append(make("reference.gpu_mismatch", file, where, f"{gpu.name}: " + "; ".join(wrong)))
    if gpu.power_limit_default_w < DEFAULT_LIMIT_FRACTION * board.default_power_w:
        out.append(
            make(
                "physics.power_limits",
                file,
                f"{where}/power_limit_default_w",
                f"default limit {gpu.power_limit_default_w} W; a {gpu.name}'s is about {board.default_power_w:.0f} W",
            )
        )
    if gpu.power_limit_max_w > board.max_power_w + POWER_LIMIT_SLACK_W:
        out.append(
            make(
                "physics.power_limits",
                file,
                f"{where}/power_limit_max_w",
                f"maximum limit {gpu.power_limit_max_w} W, but a {gpu.name} accepts at most {board.max_power_w} W",
            )
        )
    return board


def _board_power(sub: Submission, m: Measurement, board: GpuSpec, base: str, file: str) -> list[Finding]:
    out = []
    count = sub.environment.gpu.count
    ceiling = PEAK_FACTOR * board.max_power_w * count
    for j, t in enumerate(m.trials):
        if t.power_peak_w > ceiling:
            out.append(
                make(
                    "physics.peak_power",
                    file,
                    f"{base}/trials/{j}/power_peak_w",
                    f"peak {t.power_peak_w} W, beyond {PEAK_FACTOR} x the {board.max_power_w:.0f} W a {board.name} "
                    f"accepts (x {count} GPU(s))",
                )
            )
            break
    # a table without the column (a pull request branched before it) keeps the universal limits only
    factor = capacity.clock_factor(board)
    ceiling_mhz = float("inf") if board.boost_clock_mhz is None else factor * board.boost_clock_mhz
    for j, t in enumerate(m.trials):
        if t.sm_clock_mhz_mean > ceiling_mhz:  # warm-ups too: no sample reads above the board's clocks
            out.append(
                make(
                    "physics.clocks",
                    file,
                    f"{base}/trials/{j}/sm_clock_mhz_mean",
                    f"SM clock {t.sm_clock_mhz_mean} MHz; the {board.name} is rated {board.boost_clock_mhz or 0:.0f} MHz at boost "
                    f"(allowed: {factor} x, {ceiling_mhz:.0f} MHz)",
                )
            )
            break
    out += _memory_clock(sub, m, board, base, file)
    idle = m.idle
    if idle is not None:
        lo, hi = board.idle_w
        per_gpu = [
            *(idle.power_per_gpu_before_w or [idle.power_before_w / count]),
            *(idle.power_per_gpu_after_w or ([idle.power_after_w / count] if idle.power_after_w is not None else [])),
        ]
        outside = [w for w in per_gpu if not lo <= w <= hi]
        if outside:
            out.append(
                make(
                    "physics.idle_range",
                    file,
                    f"{base}/idle",
                    f"idle {outside[0]:.1f} W per GPU; a {board.name} idles at {lo:.0f}-{hi:.0f} W",
                )
            )
    return out


def one_memory_clock(board: GpuSpec) -> bool:
    """A data-centre board with HBM: its memory runs at one clock, idle or loaded (HBM_MEMORY_CLOCK)."""
    return bool(board.data_centre) and board.memory_bus_bits is not None and board.memory_bus_bits >= HBM_BUS_BITS


def _memory_clock(sub: Submission, m: Measurement, board: GpuSpec, base: str, file: str) -> list[Finding]:
    """Each window's mean memory clock against the one the board's datasheet implies (a table without
    the bus width keeps the universal limits only); the first window out of bounds is named. The
    sampler's clock is the mean over the measured boards (collector/nvml.py), and a board the device
    map leaves empty idles (a GDDR board's memory at about 400 MHz): the floor under load holds for the
    boards that hold modules only (one, where the placement is not recorded). A data-centre board's HBM
    runs at its one clock (HBM_MEMORY_CLOCK)."""
    rated_mhz = board.memory_clock_mhz
    if rated_mhz is None:
        return []
    count = max(sub.environment.gpu.count, 1)
    share = capacity.gpus_used(m, count) / count  # boards holding modules, one where not recorded
    fixed = one_memory_clock(board)
    lowest, highest = HBM_MEMORY_CLOCK if fixed else (LOADED_MEMORY_CLOCK_FRACTION, MEMORY_CLOCK_FACTOR)
    ceiling_mhz, floor_mhz = highest * rated_mhz, lowest * rated_mhz * share
    for j, t in enumerate(m.trials):
        clock = t.mem_clock_mhz_mean
        high = clock > ceiling_mhz  # warm-ups too: no sample reads above the board's memory clock
        if high or (t.role == catalogue.ROLE_MEASURED and clock < floor_mhz):
            bound = f"at most {ceiling_mhz:.0f} MHz" if high else f"at least {floor_mhz:.0f} MHz under load"
            return [
                make(
                    "physics.clocks",
                    file,
                    f"{base}/trials/{j}/mem_clock_mhz_mean",
                    f"memory clock {clock} MHz; the {board.name}'s {board.memory_bandwidth_gb_s:g} GB/s over "
                    f"{board.memory_bus_bits} bits is {rated_mhz:.0f} MHz (allowed: {bound})",
                )
            ]
    return []


def _architecture(m: Measurement, spec: ModelSpec, base: str, file: str) -> list[Finding]:
    """Every measurement's model type and parameter count are those of its architecture."""
    problems = []
    if m.model.model_type != spec.model_type:
        problems.append(f"model_type {m.model.model_type!r} (the architecture is {spec.model_type!r})")
    if abs(m.model.parameter_count - spec.parameter_count) > PARAMETER_TOLERANCE * spec.parameter_count:
        problems.append(f"{m.model.parameter_count} parameters (the architecture has {spec.parameter_count})")
    if not problems:
        return []
    return [make("reference.parameter_count", file, f"{base}/model", f"{m.model.id}: " + "; ".join(problems))]


def _quality(m: Measurement, spec: ModelSpec, base: str, file: str) -> list[Finding]:
    q = m.quality
    if q is None:
        return []
    if m.model.weights == "random_init":
        return [make("quality.perplexity", file, f"{base}/quality", "random weights have no meaningful perplexity")]
    if not 1.0 < q.value <= spec.vocab_size:
        return [
            make(
                "quality.perplexity",
                file,
                f"{base}/quality/value",
                f"perplexity {q.value} is outside (1, {spec.vocab_size}] (a uniform guess over the vocabulary scores "
                f"{spec.vocab_size})",
            )
        ]
    want = "exactly" if q.corpus == WIKITEXT else "at most"
    if q.tokens > PERPLEXITY_TOKENS or (want == "exactly" and q.tokens != PERPLEXITY_TOKENS):
        return [
            make(
                "quality.perplexity",
                file,
                f"{base}/quality/tokens",
                f"perplexity over {q.tokens} tokens of {q.corpus!r}; eco-collect predicts {want} {PERPLEXITY_TOKENS} "
                "(the first 4,096 tokens of the corpus but the first)",
            )
        ]
    return []


def _prompt(sub: Submission, models: dict[str, ModelSpec | None], file: str, ref: Reference) -> list[Finding]:
    proto = sub.protocol
    where = "/protocol/prompt"
    n = seeded_tokens(proto.prompt_source)
    if n is not None and (n != proto.prompt_tokens or n > MAX_SEEDED_TOKENS):
        return [
            make(
                "reference.unknown_prompt",
                file,
                f"{where}/token_count",
                f"{proto.prompt_source!r} names {n} token ids, the file {proto.prompt_tokens} (at most "
                f"{MAX_SEEDED_TOKENS})",
            )
        ]
    known = [s for s in models.values() if s is not None]
    if n is not None and len(known) < len(models):
        return []  # the seeded ids of an unknown model: reference.unknown_model says what to do
    vocabularies = sorted({s.vocab_size for s in known}) or [None]
    expected = {ref.prompt_sha256(proto.prompt_source, v) for v in vocabularies}
    if None in expected:
        return [
            make("reference.unknown_prompt", file, f"{where}/source", f"prompt {proto.prompt_source!r} is not built in")
        ]
    if proto.prompt_sha256 not in expected:
        return [
            make(
                "reference.unknown_prompt",
                file,
                f"{where}/sha256",
                f"prompt {proto.prompt_source!r} has sha256 {', '.join(sorted(e for e in expected if e))}, not "
                f"{proto.prompt_sha256}",
            )
        ]
    most = ref.prompt_tokens_max.get(proto.prompt_source)
    if most is not None and proto.prompt_tokens > most:
        return [
            make(
                "reference.unknown_prompt",
                file,
                f"{where}/token_count",
                f"{proto.prompt_tokens} tokens, but no tokenizer makes more than {most} of {proto.prompt_source!r} "
                "(a token per UTF-8 byte of its text, and special tokens)",
            )
        ]
    return []
