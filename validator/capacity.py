"""What the board's memory allows a model: its weights and KV cache fit, no decode step is faster than
reading them, and no token costs less energy than reading them and its arithmetic (the roofline and
the energy floors). Constants are the datasheet's and physics'; each states its false-positive risk.
"""

from __future__ import annotations

from ecocompute import catalogue, stats
from ecocompute.domain import Measurement, Protocol, Submission
from ecocompute.reference import GpuSpec, ModelSpec

from .findings import Finding, make
from .physics import CLOCK_MIN_MHZ

# A decode step reads every weight once, and the KV cache of every sequence of the batch, so at batch b:
# tok/s <= b x bandwidth / (weight bytes + the batch's cache bytes, on average over a request's steps).
# The weight bytes are the parameters at the precision's bytes per parameter (bitsandbytes keeps
# embeddings and the head in fp16, so the true bytes are more and the bound is generous), and the
# bandwidth is the datasheet peak (about 10-20 % above what kernels reach). The 25 % margin covers an
# untied input embedding, which is counted but not read (up to about 10 % of the parameters of the
# models we know) and caches. The cache read is the least attention can read: the prompt's keys and
# values and those decoded so far, every layer, in the weights' float dtype (a batch of 56 Mistral-7B
# sequences of 8,192 new tokens reads 30 GB of cache a step beside 14.5 GB of weights: weights alone
# allowed 2.9x what the board can do; the real files' batch-32 rows add at most 5 % to their bytes).
# Risk: a mixture of experts without active_parameter_count in its row; speculative decoding (not an
# eco-collect engine); a sliding-window model whose window the table does not record.
ROOFLINE_MARGIN = 1.25
# ... and every step costs at least the energy of that reading: HBM3/HBM3e access costs about 3.5-3.9
# pJ/bit (28-31 pJ per byte; HBM2 about 3.9 pJ/bit, GDDR5 about 15; O'Connor et al., "Fine-Grained
# DRAM", MICRO 2017), and the SMs, caches and links add to it. The floor is 20 pJ per byte of weights
# and KV cache read per decode step above the idle baseline: 5.6x below the least the real files show (113 pJ/byte net,
# Phi-3-mini fp16 at batch 1 on an H200; nf4 rows spend 391 or more, their dequantisation on top) and
# below HBM3's access energy alone, which leaves room for more efficient boards to come. Weights that
# fit in a board's L2 cache may come from SRAM: no NVIDIA board's L2 exceeds about 126 MB (Blackwell),
# so the floor judges weights of 128 MiB or more.
# Risk: an idle baseline taken while another process loaded the GPU (the net energy then reads low;
# physics.idle_range and physics.idle_power bound that too).
READ_ENERGY_FLOOR_J_PER_BYTE = 20e-12
FLOOR_MIN_WEIGHT_BYTES = 128 * 2**20
# ... and every token costs its arithmetic, 2 FLOPs per active parameter, wherever the weights come
# from: at least 0.2 pJ net per FLOP. A B200 at its dense fp16 peak (2.25 PFLOP/s at 1,000 W) spends
# about 0.44 pJ per FLOP gross; the least real row spends 4.5 (Phi-3-mini int8-pure at batch 32 on an
# H100, its 63 prompt tokens counted), 22x the floor. Risk: int8 tensor cores at their full peak (twice fp16's) on a future board,
# which no decode step reaches (bitsandbytes' matmuls run far below peak).
FLOP_ENERGY_FLOOR_J = 0.2e-12

# A window's mean SM clock stays below the board's rated boost clock times this: GPU Boost runs desktop
# boards 10-15 % above their rated boost, factory-overclocked partner boards add about 10 % more, and
# data-centre boards never exceed theirs (the H100 files read 1,965-1,980 MHz of a rated 1,980). Risk:
# a desktop board overclocked by hand beyond 35 %.
BOOST_CLOCK_FACTOR = 1.35
# A data-centre board (gpus.json's data_centre) has no GPU Boost beyond its rating: NVIDIA rates its highest
# SM clock (the H100 files read 1,952-1,980 MHz of 1,980, the H200's the same). 5 % covers a rating rounded
# down. An H100 SXM file relabelled H100 NVL or H200 NVL (rated 1,785 MHz) passed at 1,980.
# Risk: a data-centre board whose table boost is more than 5 % below its real maximum (fix the row).
DATA_CENTRE_BOOST_FACTOR = 1.05
# ... and no trial outruns one board's arithmetic. The work counted is a lower bound: 2 FLOPs a generated token per
# parameter less the input embedding (a lookup; where the table's config ties it to the head, the one matrix is
# counted once in the parameters and the head multiplies by it for every generated token: not taken off; attack v17:
# taking it off hid 28 % of a tied Qwen2.5-0.5B's work), 2 per parameter between embedding and head for every other
# prompt token, attention's own FLOPs not at all. Per second of a trial it stays below the board's dense tensor peak
# (gpus.json: NVIDIA's, with FP32 accumulate as torch's GEMMs run; sparsity's 2x figures do not apply, no eco-collect
# engine prunes), fp16's, or int8's for bitsandbytes' 8-bit matmuls, times the clock allowance physics.clocks grants.
# One board's peak however many hold the weights, as for the bandwidth: the layers run one board after another. The
# real files reach at most 103 TFLOP/s, 0.083 of what an H100 is allowed; the bandwidth roofline let batches of small
# models claim twice the board's arithmetic. Risk: a table row that understates its board's peak (fix the row);
# speculative decoding (not an engine here).
# A data-centre board's peak is allowed 20 % more: NVIDIA rates those at a tensor clock below the boost clock
# gpus.json holds (the H100 SXM's at 1.83 of 1.98 GHz, +8 %; the NVL boards' at about 1.55 of 1.785 GHz, +15.5 %).
# GeForce and workstation peaks are rated at the boost clock (RTX 4090: 128 SMs x 1,024 FLOPs x 2.52 GHz = 330.3),
# where the 1.35 of GPU Boost already covers what the board runs above it (attack v17: the two stacked gave a 4090
# 1.62x its peak).
PEAK_CLOCK_MARGIN = 1.2
# An fp32 row's matmuls run at most on TF32 tensor cores (torch's default, which eco-collect keeps, runs IEEE
# fp32 on the CUDA cores, slower still: 67 TFLOP/s on an H100 SXM): half the dense fp16 peak on every board
# in the table (A100 156 of 312, H100 SXM 494.7 of 989.5, L4 60 of 121, RTX 4090 82.6 of 165.2; the L40S's
# datasheet rounds its 183 above half its 362.05, the RTX 3090's 35.6 above half its 71: 0.3 %, within the
# clock allowance).
# An fp16 row relabelled fp32 at 1.8 x an H100's TF32 peak passed against the fp16 one (attack v17).
FP32_PEAK_FRACTION = 0.5
# Volta and Turing have neither TF32 nor bf16 tensor cores (both came with Ampere): their fp32 and bf16 matmuls run
# on the CUDA cores at about an eighth of the fp16 tensor peak (V100 SXM2 15.7 of 125, V100 PCIe 14 of 112, T4 8.1
# of 65 TFLOP/s; the SXM2's 0.5 % above an eighth is inside the clock margin). A bf16 row on them was judged
# against the fp16 peak, 8x too much (attack v17 V17-5).
CUDA_CORE_PEAK_FRACTION = 0.125
# ... and the peak scales with the SM clock (SMs x FLOPs per clock x clock): a trial is held to the peak at its own
# mean SM clock (times the rating's margin), where that is below the clock allowance. The real files' busiest trials
# (fp16 Qwen2.5-7B at batch 512 on an H100, 136 TFLOP/s at 1,928 MHz) reach 0.141 of the peak at their clock, and no
# real trial reads below 1,928 MHz. The 7B batch-512 file claiming 100-200 MHz throughout (physics.clocks' floor is
# 100) passed: 0.7-1.4 x what the board's arithmetic reaches at 100 MHz (attack v22). Judged on windows of at least
# this many samples: a shorter one's mean may be a reading or two taken while the clocks ramped up from idle.
CLOCK_JUDGED_MIN_SAMPLES = 10
WITHOUT_TF32_BF16_TENSOR_CORES = frozenset({"Volta", "Turing"})


def clock_factor(board: GpuSpec) -> float:
    """How far above its rated boost clock the board's SM clock may run (physics.clocks)."""
    return DATA_CENTRE_BOOST_FACTOR if board.data_centre else BOOST_CLOCK_FACTOR


def peak_clock_margin(board: GpuSpec) -> float:
    """How far above its rated tensor peak a board's clock allowance may run it: 1.2 where NVIDIA rates the peak
    below the boost clock (data-centre boards), none where it is rated at it."""
    return PEAK_CLOCK_MARGIN if board.data_centre else 1.0


def compute_peak(board: GpuSpec, precision: catalogue.Precision) -> tuple[float, str] | None:
    """The dense peak a row's matmuls may reach on one board, in TFLOP/s (TOP/s for int8), and what it is;
    None where the table lacks the column (a pull request branched before it)."""
    fp16 = board.tensor_fp16_tflops
    if fp16 is None:
        return None
    cuda_cores = board.architecture in WITHOUT_TF32_BF16_TENSOR_CORES
    dtype = precision.torch_dtype
    if not precision.quantized and (dtype == "float32" or (dtype == "bfloat16" and cuda_cores)):
        if cuda_cores:
            kind = f"{dtype} TFLOP/s on {board.architecture}'s CUDA cores (an eighth of its fp16 peak: no tensor cores)"
            return CUDA_CORE_PEAK_FRACTION * fp16, kind
        return FP32_PEAK_FRACTION * fp16, "TF32 TFLOP/s (half its fp16 peak)"
    if precision.eight_bit and board.tensor_int8_tops is not None and board.tensor_int8_tops > fp16:
        return board.tensor_int8_tops, "int8 TOP/s"
    return fp16, "fp16 TFLOP/s"


def gpus_used(m: Measurement, count: int) -> int:
    """GPUs the model's weights were spread over (1 when the placement is not recorded)."""
    if m.placement is None:
        return 1
    return max(1, len({p for p in m.placement.device_map.values() if p < count}))


def check(sub: Submission, m: Measurement, board: GpuSpec, spec: ModelSpec, base: str, file: str) -> list[Finding]:
    """The weights fit in the GPUs used, and no trial decodes faster than reading them allows."""
    out = []
    bytes_per_param = catalogue.PRECISIONS[m.precision].bytes_per_param
    used = gpus_used(m, sub.environment.gpu.count)
    weights_gib = spec.parameter_count * bytes_per_param / 2**30
    tokens = sub.protocol.prompt_tokens + sub.protocol.output_tokens
    cache_gib = _kv_cache_bytes(spec, m, tokens) / 2**30
    memory_gib = sub.environment.gpu.memory_total_mib * used / 1024
    if weights_gib + cache_gib > memory_gib:
        out.append(
            make(
                "physics.memory_fit",
                file,
                f"{base}/precision",
                f"{spec.id} in {m.precision} needs {weights_gib:.1f} GiB of weights and {cache_gib:.1f} GiB of KV cache "
                f"(batch {m.batch_size} x {tokens} tokens); {used} GPU(s) hold {memory_gib:.1f} GiB",
            )
        )
    weight_bytes = spec.active_parameter_count * bytes_per_param
    # ... and the KV cache of the whole batch: attention reads every cached key and value at every step
    cache_read = _kv_cache_bytes(spec, m, _mean_cached_tokens(spec, sub.protocol))
    read_bytes = weight_bytes + cache_read
    # One board's bandwidth however many hold the weights: both placements (catalogue.PLACEMENT_STRATEGIES)
    # run the layers one GPU after another, so a decode step reads every weight at one board's speed.
    bound = m.batch_size * board.memory_bandwidth_gb_s * 1e9 / read_bytes
    for j, t in enumerate(m.trials):
        if t.throughput_tok_s > ROOFLINE_MARGIN * bound:
            out.append(
                make(
                    "physics.roofline",
                    file,
                    f"{base}/trials/{j}/duration_s",
                    f"{t.throughput_tok_s:.1f} tok/s, but batch {m.batch_size} of {spec.id} in {m.precision} on "
                    f"{used} {board.name} can decode at most {bound:.1f} tok/s ({board.memory_bandwidth_gb_s:.0f} GB/s "
                    f"/ {read_bytes / 1e9:.2f} GB per step: {weight_bytes / 1e9:.2f} GB of weights and "
                    f"{cache_read / 1e9:.2f} GB of KV cache on average; allowed with margin: {ROOFLINE_MARGIN * bound:.1f})",
                )
            )
            break
    out += _compute_roofline(sub, m, board, spec, base, file)
    if m.idle is not None:
        cached = read_bytes < FLOOR_MIN_WEIGHT_BYTES  # bytes an L2 cache could hold: no read floor
        out += _energy_floor(m, 0.0 if cached else read_bytes, spec, sub.protocol, base, file)
    return out


def _compute_roofline(
    sub: Submission, m: Measurement, board: GpuSpec, spec: ModelSpec, base: str, file: str
) -> list[Finding]:
    """No trial's arithmetic (a lower bound on it) runs faster than one board's dense tensor peak allows."""
    peak = compute_peak(board, catalogue.PRECISIONS[m.precision])
    embedding = _embedding_parameters(spec)
    if peak is None or embedding is None:
        return []  # a table without the column (a pull request branched before it), or without the sizes
    peak_tflops, kind = peak
    margin = peak_clock_margin(board)
    allowed = margin * clock_factor(board) * peak_tflops * 1e12
    # the input embedding is a lookup; a head tied to it still multiplies by it for every generated token
    per_generated = 2.0 * max(0, spec.active_parameter_count - (0 if _tied(spec) else embedding))
    per_prompt = _prompt_flops_per_token(spec)
    boost = board.boost_clock_mhz
    for j, t in enumerate(m.trials):
        prompt_tokens = t.requests * m.batch_size * max(0, sub.protocol.prompt_tokens - 1)
        flops = per_generated * t.generated_tokens + per_prompt * prompt_tokens
        if flops > allowed * t.duration_s:
            return [
                make(
                    "physics.compute_roofline",
                    file,
                    f"{base}/trials/{j}/duration_s",
                    f"{flops / t.duration_s / 1e12:.1f} TFLOP/s: {t.generated_tokens} generated tokens of at least "
                    f"{per_generated:.3g} FLOPs and {prompt_tokens} prompt tokens before them of {per_prompt:.3g} "
                    f"({flops:.3g} FLOPs) in {t.duration_s:.3f} s, but one {board.name} peaks at {peak_tflops:g} dense "
                    f"{kind} (allowed: {_margins(margin, board)}: {allowed / 1e12:.1f}; {spec.id} in {m.precision})",
                )
            ]
        at_clock = margin * peak_tflops * 1e12 * t.sm_clock_mhz_mean / boost if boost else allowed
        judged = t.power_samples >= CLOCK_JUDGED_MIN_SAMPLES and t.sm_clock_mhz_mean >= CLOCK_MIN_MHZ  # else clocks'
        if judged and at_clock < allowed and flops > at_clock * t.duration_s:
            return [
                make(
                    "physics.compute_roofline",
                    file,
                    f"{base}/trials/{j}/sm_clock_mhz_mean",
                    f"{flops / t.duration_s / 1e12:.1f} TFLOP/s ({flops:.3g} FLOPs in {t.duration_s:.3f} s), but one "
                    f"{board.name} at its mean SM clock of {t.sm_clock_mhz_mean:.0f} MHz peaks at "
                    f"{peak_tflops * t.sm_clock_mhz_mean / boost:.1f} dense {kind} ({peak_tflops:g} at {boost:.0f} MHz; "
                    f"allowed x {margin}: {at_clock / 1e12:.1f}; {spec.id} in {m.precision})",
                )
            ]
    return []


def _margins(margin: float, board: GpuSpec) -> str:
    above = f"x {clock_factor(board)} above the rated boost"
    return f"x {margin} for the clock NVIDIA rates it at, {above}" if margin != 1.0 else above


def _tied(spec: ModelSpec) -> bool:
    """The output head is the input embedding (counted once in the parameters), as the table's config says;
    a config that does not say is taken as untied (the smaller count)."""
    return spec.hyperparameters.get("tie_word_embeddings") is True


def _embedding_parameters(spec: ModelSpec) -> int | None:
    """The input embedding's parameters, vocabulary x hidden size (None where the table lacks them)."""
    try:
        return int(spec.hyperparameters["vocab_size"]) * int(spec.hyperparameters["hidden_size"])
    except (KeyError, TypeError, ValueError):
        return None


def _mean_cached_tokens(spec: ModelSpec, protocol: Protocol) -> float:
    """Tokens in each sequence's KV cache that a step reads, on average over a request's steps: the
    prefill writes the prompt's, decode step k (1 to output - 1) reads the prompt's and k more, so
    prompt + (output - 1) / 2 per step (a sliding window, where the table records one, caps it)."""
    tokens = protocol.prompt_tokens + (protocol.output_tokens - 1) / 2
    hp = spec.hyperparameters
    window = hp.get("sliding_window")
    if (
        isinstance(window, int)
        and not isinstance(window, bool)
        and window > 0
        and hp.get("use_sliding_window") is not False
    ):
        tokens = min(tokens, float(window))
    return tokens


def _prompt_flops_per_token(spec: ModelSpec) -> float:
    """FLOPs each prompt token but the last costs at least: 2 per parameter of the layers between the
    embedding and the output head (a lookup; logits only for the last position), so both are taken off,
    once where they are one tied matrix (counted once in the parameters). 0 where the table lacks the
    sizes: never more than the work done."""
    embedding = _embedding_parameters(spec)
    if embedding is None:
        return 0.0
    return 2.0 * max(0, spec.active_parameter_count - (1 if _tied(spec) else 2) * embedding)


def _energy_floor(
    m: Measurement, read_bytes: float, spec: ModelSpec, protocol: Protocol, base: str, file: str
) -> list[Finding]:
    """Every request reads the weights (and its KV cache) once per output token (its prefill gives the first), every
    generated token costs 2 FLOPs per active parameter and every other prompt token those of the layers
    (a 16,384-token prompt costs its prefill, which a throughput kept from a 64-token one hides), so a
    window's energy above idle is at least the floors' cost of those reads (``read_bytes`` 0: not
    judged) or of that arithmetic, whichever is more.
    Judged against the lower of the two idle windows, and for trials after warm-up only (no figure uses
    warm-ups): a launch-bound configuration draws within a watt of idle, and the two windows of one
    baseline differ by up to 9 W in the H100 files, so the mean would let idle noise decide."""
    assert m.idle is not None
    idle_w = m.idle.lower_power_w
    per_prompt_token = _prompt_flops_per_token(spec)
    for j, t in enumerate(m.trials):
        if t.is_warmup:
            continue
        steps = t.requests * protocol.output_tokens
        read_j = READ_ENERGY_FLOOR_J_PER_BYTE * read_bytes * steps
        prompt_tokens = t.requests * m.batch_size * max(0, protocol.prompt_tokens - 1)
        flops = 2.0 * spec.active_parameter_count * t.generated_tokens + per_prompt_token * prompt_tokens
        flop_j = FLOP_ENERGY_FLOOR_J * flops
        net_j = stats.net_energy_j(t, idle_w)
        if net_j >= max(read_j, flop_j):
            continue
        if read_j >= flop_j:
            why = (
                f"{steps} decode steps, each reading {read_bytes / 1e9:.2f} GB of weights and KV cache; reading them costs at "
                f"least {read_j:.1f} J ({READ_ENERGY_FLOOR_J_PER_BYTE * 1e12:.0f} pJ per byte)"
            )
        else:
            why = (
                f"{t.generated_tokens} generated tokens of 2 x {spec.active_parameter_count} FLOPs and {prompt_tokens} "
                f"prompt tokens before them ({flops:.3g} FLOPs); they cost at least {flop_j:.1f} J "
                f"({FLOP_ENERGY_FLOOR_J * 1e12:.1f} pJ per FLOP)"
            )
        return [
            make(
                "physics.energy_floor",
                file,
                f"{base}/trials/{j}/energy_j",
                f"{net_j:.1f} J above idle ({t.energy_j} J less the lower idle window's {idle_w:.1f} W x "
                f"{t.duration_s} s) for {why}",
            )
        ]
    return []


def _kv_cache_bytes(spec: ModelSpec, m: Measurement, tokens: float) -> float:
    """Keys and values of every layer for the whole batch at the last token, in the cache's dtype
    (the weights' float dtype): resident at the end of every request. 0 when the architecture's
    hyper-parameters do not say."""
    hp = spec.hyperparameters
    try:
        head_dim = hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"]
        per_token = 2 * hp["num_hidden_layers"] * hp["num_key_value_heads"] * head_dim
    except (KeyError, TypeError, ZeroDivisionError):
        return 0.0
    dtype_bytes = 4 if catalogue.PRECISIONS[m.precision].torch_dtype == "float32" else 2
    return float(per_token * tokens * m.batch_size * dtype_bytes)
