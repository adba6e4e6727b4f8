"""What the world says, versioned in the repository: GPU boards, model architectures, built-in prompts,
released collectors and the files accepted before the current schema version.

The tables are JSON files beside this module (``gpus.json``, ``models.json``, ``prompts.json``,
``collectors.json``, ``accepted.json``), reviewed by maintainers (CODEOWNERS). A pull request that
measures a new board or model adds its row in the same pull request; the validator then reads the
tables of the checkout it validates (``load(folder)``), so they are parsed as untrusted input:
bounded size, strict JSON, every field typed and ranged, one clear error naming the file and row.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import smallfile
from ..cli import EcoError
from .parameters import COUNTED_TYPES
from .parameters import parameter_count as parameter_count
from .seeded import SEEDED_FIRST_ID as SEEDED_FIRST_ID
from .seeded import seeded_prompt as seeded_prompt
from .seeded import seeded_prompt_sha256 as seeded_prompt_sha256
from .seeded import seeded_token_ids as seeded_token_ids
from .seeded import seeded_tokens as seeded_tokens

PACKAGE_DIR = Path(__file__).resolve().parent
MAX_TABLE_BYTES = 1024 * 1024
_CC = re.compile(r"[0-9]{1,2}\.[0-9]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# NVML's board names are ASCII, Hub ids are owner/name of ASCII letters, digits, '.', '_', '-' (and the Hub
# resolves them regardless of case): a row named apart only by case, spacing, punctuation or a look-alike
# letter is the same board or model, and a second row for it would judge its files by other limits.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}", re.ASCII)
MAX_PROMPT_TOKENS = 1_000_000


class ReferenceError(EcoError):
    """A reference table that cannot be read or breaks its own rules."""


@dataclass(frozen=True)
class GpuSpec:
    name: str  # as NVML reports it
    architecture: str  # NVML_DEVICE_ARCH_* title-cased, as eco-collect writes it
    compute_capability: str
    memory_mib: int  # datasheet memory; NVML reports up to 10 % less (ECC, reserved)
    memory_bandwidth_gb_s: float
    memory_bus_bits: int | None  # the memory interface's width (None: not in the table)
    default_power_w: float
    max_power_w: float  # the highest power limit a shipping board of this model accepts
    idle_w: tuple[float, float]
    boost_clock_mhz: float | None  # the rated boost clock (None: not in the table); boards run above it
    source: str
    # a data-centre board: its rated boost is its highest SM clock and nobody overclocks its memory (None:
    # not in the table, the desktop limits apply)
    data_centre: bool | None = None
    # dense tensor-core peaks at the rated boost clock, the datasheet's (sparsity's 2x figures halved; None:
    # not in the table, or no int8 tensor cores)
    tensor_fp16_tflops: float | None = None
    tensor_int8_tops: float | None = None

    @property
    def memory_clock_mhz(self) -> float | None:
        """The memory clock NVML reports at full speed: the bandwidth over the bus at two transfers a
        clock (None: the table lacks the bus width)."""
        return None if self.memory_bus_bits is None else self.memory_bandwidth_gb_s * 4000 / self.memory_bus_bits


@dataclass(frozen=True)
class ModelSpec:
    id: str
    model_type: str
    hyperparameters: Mapping[str, Any]  # config.json fields, as the collector builds the architecture
    parameter_count: int
    active_parameter_count: int  # weights read per decoded token (a mixture of experts reads fewer)
    vocab_size: int
    source: str


@dataclass(frozen=True)
class Release:
    name: str
    version: str
    released: str | None  # YYYY-MM-DD; None while in development
    schema_versions: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedFile:
    path: str
    sha256: str
    schema_version: str


@dataclass(frozen=True)
class Reference:
    folder: str
    gpus: Mapping[str, GpuSpec]
    models: Mapping[str, ModelSpec]
    prompts: Mapping[str, str]  # builtin prompt source -> sha256 of its UTF-8 text
    releases: Mapping[tuple[str, str], Release]
    accepted: Mapping[str, AcceptedFile] = field(default_factory=dict)  # sha256 -> file
    prompt_tokens_max: Mapping[str, int] = field(default_factory=dict)  # builtin source -> most tokens

    def prompt_sha256(self, source: str, vocab_size: int | None) -> str | None:
        """The sha256 a prompt of this source must have (seeded ids need the model's vocabulary)."""
        if source in self.prompts:
            return self.prompts[source]
        seeded = seeded_prompt(source)
        if seeded is None or vocab_size is None:
            return None
        return seeded_prompt_sha256(vocab_size, seeded[1], seeded[0])


# -- loading and checking the tables --------------------------------------------------------------


def _read(folder: Path, name: str) -> Any:
    path = folder / name
    try:
        # A pull request may change a table: never read past the cap, nor open a FIFO or a device
        # (a link is followed: a checkout may hold the tables through one).
        raw = smallfile.read_bytes(path, MAX_TABLE_BYTES)
    except smallfile.SmallFileError as exc:
        if exc.reason == "too_large":
            raise ReferenceError(f"reference table {path} is larger than {MAX_TABLE_BYTES} bytes") from None
        if exc.reason == "not_regular":
            raise ReferenceError(f"cannot read the reference table {path}: not a regular file") from None
        raise ReferenceError(f"cannot read the reference table {path}: {exc.strerror}") from exc
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReferenceError(f"reference table {path} is not valid JSON: {exc}") from exc


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


class _Row:
    """Typed access to one row of a table; every failure names the table, the row and the field."""

    def __init__(self, table: str, index: int, row: Any) -> None:
        self.where = f"{table} row {index}"
        if not isinstance(row, dict):
            raise ReferenceError(f"{self.where}: expected an object")
        self.row = row

    def get(self, key: str, check: Callable[[Any], bool], what: str, optional: bool = False) -> Any:
        if key not in self.row and optional:
            return None
        value = self.row.get(key)
        if not check(value):
            raise ReferenceError(f"{self.where}: {key} must be {what}, not {str(value)[:80]!r}")
        return value


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 4000 and value.isprintable()


def _number(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi


def _integer(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _gpu(index: int, raw: Any) -> GpuSpec:
    r = _Row("gpus.json", index, raw)
    idle = r.get("idle_w", lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number(0, 5000), v)), "[lo, hi]")
    spec = GpuSpec(
        name=r.get("name", lambda v: _text(v) and v.isascii(), "an ASCII name (as NVML reports it)"),
        architecture=r.get("architecture", _text, "a name"),
        compute_capability=r.get("compute_capability", lambda v: isinstance(v, str) and _CC.fullmatch(v), "'M.m'"),
        memory_mib=r.get("memory_mib", _integer(1, 1 << 30), "a positive integer"),
        memory_bandwidth_gb_s=r.get("memory_bandwidth_gb_s", _number(1, 1e6), "a bandwidth in GB/s"),
        memory_bus_bits=r.get("memory_bus_bits", _integer(32, 1 << 16), "a width in bits", optional=True),
        default_power_w=r.get("default_power_w", _number(1, 1e5), "a power in W"),
        max_power_w=r.get("max_power_w", _number(1, 1e5), "a power in W"),
        idle_w=(float(idle[0]), float(idle[1])),
        boost_clock_mhz=r.get("boost_clock_mhz", _number(100, 10_000), "a clock in MHz", optional=True),
        source=r.get("source", _text, "a citation"),
        data_centre=r.get("data_centre", lambda v: isinstance(v, bool), "true or false", optional=True),
        tensor_fp16_tflops=r.get("tensor_fp16_tflops", _number(1, 1e6), "a dense peak in TFLOP/s", optional=True),
        tensor_int8_tops=r.get("tensor_int8_tops", _number(1, 1e6), "a dense peak in TOP/s", optional=True),
    )
    if not spec.idle_w[0] < spec.idle_w[1] < spec.default_power_w <= spec.max_power_w:
        raise ReferenceError(f"{r.where}: expected idle lo < idle hi < default_power_w <= max_power_w")
    return spec


# The config.json sizes that parameter counts, memory and KV-cache bounds multiply: integers, checked
# here once. A list there would make each product a repetition (a 14-GB list from one row of the
# tables a pull request brings), a float or a negative number would bend the bounds.
ARCHITECTURE_SIZES = (
    "hidden_size",
    "intermediate_size",
    "max_position_embeddings",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "head_dim",
)
_SIZE_MAX = 10**7


def _model(index: int, raw: Any) -> ModelSpec:
    r = _Row("models.json", index, raw)
    hp = r.get("hyperparameters", lambda v: isinstance(v, dict) and len(v) <= 64, "an object")
    model_type = r.get("model_type", _text, "a model_type")
    count = r.get("parameter_count", _integer(1, 10**14), "a positive integer")
    active = r.get("active_parameter_count", _integer(1, 10**14), "a positive integer", optional=True)
    vocab = hp.get("vocab_size")
    if not _integer(2, 10**8)(vocab):
        raise ReferenceError(f"{r.where}: hyperparameters.vocab_size must be an integer >= 2")
    for key in ARCHITECTURE_SIZES:
        if key in hp and not _integer(1, _SIZE_MAX)(hp[key]):
            shown = str(hp[key])[:80]
            raise ReferenceError(
                f"{r.where}: hyperparameters.{key} must be an integer from 1 to {_SIZE_MAX}, not {shown!r}"
            )
    if model_type in COUNTED_TYPES:
        try:
            expected = parameter_count(model_type, hp)
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            raise ReferenceError(f"{r.where}: hyper-parameters incomplete for a {model_type} ({exc})") from exc
        if expected != count:
            raise ReferenceError(f"{r.where}: parameter_count {count} but its hyper-parameters give {expected}")
    if active is not None and active > count:
        raise ReferenceError(f"{r.where}: active_parameter_count exceeds parameter_count")
    if active is not None and active != count and model_type in COUNTED_TYPES:
        # A dense decoder reads every weight for each token: a smaller active count (a mixture of
        # experts' column) would loosen the roofline and both energy floors by the same factor.
        raise ReferenceError(
            f"{r.where}: active_parameter_count {active} on a dense {model_type} (every decoded token reads all "
            f"{count} parameters); it is for a mixture of experts"
        )
    return ModelSpec(
        id=r.get("id", lambda v: isinstance(v, str) and _HUB_ID.fullmatch(v), "a Hub model id (owner/name)"),
        model_type=model_type,
        hyperparameters=MappingProxyType(dict(hp)),
        parameter_count=count,
        active_parameter_count=active or count,
        vocab_size=vocab,
        source=r.get("source", _text, "a citation"),
    )


def _release(index: int, raw: Any) -> Release:
    r = _Row("collectors.json", index, raw)
    date = r.get(
        "released",
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", v, re.ASCII)),
        "YYYY-MM-DD or null",
    )
    versions = r.get(
        "schema_versions", lambda v: isinstance(v, list) and 0 < len(v) <= 16 and all(map(_text, v)), "a list"
    )
    return Release(r.get("name", _text, "a name"), r.get("version", _text, "a version"), date, tuple(versions))


def _accepted(index: int, raw: Any) -> AcceptedFile:
    r = _Row("accepted.json", index, raw)
    sha = r.get("sha256", lambda v: isinstance(v, str) and _SHA256.fullmatch(v), "64 lower-case hex digits")
    return AcceptedFile(r.get("path", _text, "a path"), sha, r.get("schema_version", _text, "a version"))


def _rows(data: Any, key: str, table: str) -> list[Any]:
    rows = data.get(key) if isinstance(data, dict) else None
    if not isinstance(rows, list) or len(rows) > 10_000:
        raise ReferenceError(f"{table}: expected an object with a list '{key}'")
    return rows


def _unique(
    items: list[Any], key: Callable[[Any], Any], table: str, same: Callable[[Any], Any] = lambda k: k
) -> dict[Any, Any]:
    """``items`` by ``key``; two whose keys are ``same`` (one board or model spelled two ways) are refused."""
    out: dict[Any, Any] = {}
    seen: dict[Any, Any] = {}
    for item in items:
        k = key(item)
        if same(k) in seen:
            raise ReferenceError(
                f"{table}: {k!r} is listed twice" + ("" if seen[same(k)] == k else f" (as {seen[same(k)]!r})")
            )
        out[k], seen[same(k)] = item, k
    return out


def load(folder: Path) -> Reference:
    """Read and check every table of ``folder``; ReferenceError on the first problem."""
    gpus = [_gpu(i, r) for i, r in enumerate(_rows(_read(folder, "gpus.json"), "gpus", "gpus.json"))]
    models = [_model(i, r) for i, r in enumerate(_rows(_read(folder, "models.json"), "models", "models.json"))]
    prompts = _rows(_read(folder, "prompts.json"), "builtin", "prompts.json")
    builtin, most = {}, {}
    for i, raw in enumerate(prompts):  # a source listed twice would take its last hash: refused
        r = _Row("prompts.json", i, raw)
        sha = r.get("sha256", lambda v: isinstance(v, str) and _SHA256.fullmatch(v), "64 lower-case hex digits")
        source = r.get("source", _text, "a prompt source")
        if source in builtin:
            raise ReferenceError(f"prompts.json: {source!r} is listed twice")
        builtin[source] = sha
        most[source] = r.get("token_count_max", _integer(1, MAX_PROMPT_TOKENS), "a positive token count")
    releases = [
        _release(i, r) for i, r in enumerate(_rows(_read(folder, "collectors.json"), "releases", "collectors.json"))
    ]
    accepted = [_accepted(i, r) for i, r in enumerate(_rows(_read(folder, "accepted.json"), "files", "accepted.json"))]
    return Reference(
        folder=str(folder),
        gpus=MappingProxyType(
            _unique(gpus, lambda g: g.name, "gpus.json", lambda k: re.sub("[^0-9a-z]", "", k.lower()))
        ),
        models=MappingProxyType(_unique(models, lambda m: m.id, "models.json", str.lower)),
        prompts=MappingProxyType(builtin),
        prompt_tokens_max=MappingProxyType(most),
        releases=MappingProxyType(_unique(releases, lambda r: (r.name, r.version), "collectors.json")),
        accepted=MappingProxyType(_unique(accepted, lambda a: a.sha256, "accepted.json")),
    )


_TABLES = ("gpus.json", "models.json", "prompts.json", "collectors.json", "accepted.json")


@functools.lru_cache(maxsize=8)
def _cached(folder: str, signature: tuple[tuple[int, int], ...]) -> Reference:
    return load(Path(folder))


def cached(folder: str) -> Reference:
    """``load`` once per folder, process and version of its files (validator workers ask per file)."""
    signature = []
    for name in _TABLES:
        try:
            info = (Path(folder) / name).stat()
            signature.append((info.st_mtime_ns, info.st_size))
        except OSError:
            signature.append((-1, -1))
    return _cached(folder, tuple(signature))


# a release named by major and minor ("2.11", CUDA "12.8"): the reference tables' keys, and torch_cuda's start
MAJOR_MINOR = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})", re.ASCII)


@functools.lru_cache(maxsize=1)
def torch_cuda() -> Mapping[tuple[int, int], tuple[tuple[int, int], ...]]:
    """``torch_cuda.json``: torch (major, minor) -> the CUDA runtimes, (major, minor) oldest first, that
    PyTorch's own wheels of that release were built for. Read from this package, never from the checkout
    under validation: it is a fact of PyTorch's releases, not of a contribution."""
    table = "torch_cuda.json"
    out: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
    for i, raw in enumerate(_rows(_read(PACKAGE_DIR, table), "releases", table)):
        r = _Row(table, i, raw)
        torch = r.get("torch", lambda v: isinstance(v, str) and MAJOR_MINOR.fullmatch(v), "a major.minor release")
        cudas = r.get(
            "cuda",
            lambda v: (
                isinstance(v, list)
                and 0 < len(v) <= 16
                and all(isinstance(c, str) and MAJOR_MINOR.fullmatch(c) for c in v)
            ),
            "a list of CUDA major.minor versions",
        )
        r.get("source", _text, "a citation")
        key = tuple(map(int, torch.split(".")))
        if key in out:
            raise ReferenceError(f"{table}: torch {torch!r} is listed twice")
        out[key] = tuple(sorted({tuple(map(int, c.split("."))) for c in cudas}))  # type: ignore[misc]
    return MappingProxyType(out)


def default() -> Reference:
    """The tables shipped with this package."""
    return cached(str(PACKAGE_DIR))


def architectures(ref: Reference | None = None) -> dict[str, dict[str, Any]]:
    """Model id -> {"model_type", **hyper-parameters}: what the collector builds random weights from
    (the layout of its former collector/data/architectures.json)."""
    return {m.id: {"model_type": m.model_type, **m.hyperparameters} for m in (ref or default()).models.values()}
