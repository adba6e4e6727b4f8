"""Build or load the model for each precision, recording exactly what was loaded."""

from __future__ import annotations

import functools
import gc
import itertools
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecocompute import catalogue, ids
from ecocompute.catalogue import RANDOM_REVISION
from ecocompute.domain import Model, Placement

from . import hostinfo, randomweights
from .architecture import build_config, count_parameters
from .errors import CollectError


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any | None
    info: Model
    quantization: dict[str, Any]  # the schema's quantization record, from the config transformers used
    attn_implementation: str
    placement: Placement = field(default_factory=Placement.single_gpu)


def resolve_revision(model_id: str, revision: str | None, api: Any = None) -> str:
    """The 40-hex commit of ``revision`` (a branch, tag or SHA) on the Hub."""
    if revision and ids.is_commit_sha(revision):
        return revision
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = (api or HfApi()).model_info(model_id, revision=revision)
    except (HfHubHTTPError, OSError) as exc:
        raise CollectError(
            f"cannot resolve {model_id}@{revision or 'main'} on the Hub ({exc}); pass --revision <40-hex sha> "
            "with locally cached weights, or --weights random"
        ) from exc
    return str(info.sha)


def torch_device(nvml_uuid: str) -> str:
    """PyTorch's name for the board NVML calls ``nvml_uuid``.

    NVML numbers GPUs in PCI order, CUDA by default fastest first and after CUDA_VISIBLE_DEVICES:
    only the UUID is sure to name the board whose energy is measured."""
    import torch

    want = nvml_uuid.lower().removeprefix("gpu-")
    for k in range(torch.cuda.device_count()):
        if str(torch.cuda.get_device_properties(k).uuid).lower() == want:
            return f"cuda:{k}"
    raise CollectError(
        f"the measured GPU {nvml_uuid} is not visible to PyTorch (check CUDA_VISIBLE_DEVICES against --gpu)"
    )


class ModelSource:
    """Loads one model id in each precision.

    Random weights are built once in fp16 and saved, so every precision (quantized included) goes
    through ``from_pretrained`` exactly as pretrained weights do.
    """

    def __init__(
        self,
        model_id: str,
        *,
        weights: str,
        revision: str | None,
        device: str,
        cache_dir: Path,
        seed: int = 0,
        config_path: Path | None = None,
        attn_implementation: str = "sdpa",
        shard_over: list[str] | None = None,
        note: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.model_id = model_id
        self.weights = weights
        self.device = device  # the first measured GPU: the whole model, or its first shard
        self.shard_over = shard_over or []  # torch devices of all measured GPUs, in --gpu order, when sharding
        self.cache_dir = cache_dir
        self.seed = seed
        self.attn_implementation = attn_implementation
        self.note = note  # a line for the log (the session's events.note)
        self.config = build_config(model_id, config_path) if weights == "random" else None
        self.revision = RANDOM_REVISION if weights == "random" else resolve_revision(model_id, revision)
        self._random_dir: Path | None = None

    def _config(self) -> Any:
        if self.config is None:
            from transformers import AutoConfig

            self.config = AutoConfig.from_pretrained(self.model_id, revision=self.revision)
        return self.config

    @functools.cached_property
    def _description(self) -> Model:
        # Counting parameters builds the architecture on the meta device: once per model, not per load.
        config = self._config()
        weights = "random_init" if self.weights == "random" else "pretrained"
        return Model(self.model_id, self.revision, weights, count_parameters(config), str(config.model_type))

    def describe(self) -> Model:
        """The schema's measurement.model, without loading any weights."""
        return self._description

    def quantization(self, precision: str) -> dict[str, Any]:
        """The quantization record for ``precision`` as transformers would apply it."""
        spec = catalogue.precision(precision)
        if not spec.quantized:
            return quantization_record(precision, None)
        from transformers import BitsAndBytesConfig

        return quantization_record(precision, BitsAndBytesConfig(**spec.bnb_kwargs()).to_dict())

    def prompt(self, n_tokens: int) -> Any:
        from . import workload

        if self.weights == "random":
            return workload.seeded_prompt(int(self._config().vocab_size), n_tokens, self.seed)
        from transformers import AutoTokenizer

        return workload.builtin_prompt(AutoTokenizer.from_pretrained(self.model_id, revision=self.revision))

    def _random_checkpoint(self) -> Path:
        if self._random_dir is not None:
            return self._random_dir
        import torch
        from transformers import AutoModelForCausalLM

        size = checkpoint_bytes(self.describe().parameter_count)
        # One seed draws other weights on another device: the folder names where they were drawn. Those
        # drawn on the measured GPU's kind are used when there, though this GPU cannot draw them now.
        target = self.cache_dir / randomweights.folder_name(self.model_id, self.seed, draw_label(self.device))
        if not randomweights.complete(target):
            build_on = build_device(self.device, size)
            target = self.cache_dir / randomweights.folder_name(self.model_id, self.seed, draw_label(build_on))

            def check() -> None:  # when this run saves it: one that waited for another's save is not refused
                unused = randomweights.unused(target, self.model_id, self.seed)
                check_disk(self.model_id, target.parent, size, unused)
                check_memory(self.model_id, self.device, build_on, size)
                for folder in unused:  # each one a draw this run makes again beside it, on disk for nothing
                    self.note(
                        f"drawing the random weights of {self.model_id} (seed {self.seed}) into {target.name}: "
                        f"{randomweights.shown([folder])} holds this model and seed drawn on another device or "
                        "by an older eco-collect and is not used: it can be deleted to free its space"
                    )

            def build(folder: Path) -> None:
                torch.manual_seed(self.seed)
                with torch.device(build_on):
                    model = AutoModelForCausalLM.from_config(self.config, dtype=torch.float16)
                model.save_pretrained(folder)
                del model
                _free()

            # A private folder renamed into place once marked complete: another run's save (one per
            # GPU on one host) is never touched, and a half-written folder is never loaded.
            randomweights.save(target, build, check)
        self._random_dir = target
        return target

    def load(self, precision: str) -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

        source = str(self._random_checkpoint()) if self.weights == "random" else self.model_id
        spec = catalogue.precision(precision)
        kwargs: dict[str, Any] = {
            "dtype": getattr(torch, spec.torch_dtype),
            "device_map": self.device,
            "attn_implementation": self.attn_implementation,
        }
        if len(self.shard_over) > 1:
            kwargs.update(sharded_placement(self.shard_over))
        if self.weights != "random":
            kwargs["revision"] = self.revision
        quant_config = None
        if spec.quantized:
            quant_config = BitsAndBytesConfig(**spec.bnb_kwargs())
            kwargs["quantization_config"] = quant_config
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        model.eval()
        tokenizer = None
        if self.weights != "random":
            tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=self.revision)
        used = quant_config.to_dict() if quant_config is not None else None
        placement = Placement.single_gpu()
        if len(self.shard_over) > 1:
            placement = placement_of(device_map_of(model), self.shard_over)
        return LoadedModel(
            model,
            tokenizer,
            self.describe(),
            quantization_record(precision, used),
            str(model.config._attn_implementation),
            placement,
        )


def checkpoint_bytes(parameter_count: int) -> int:
    """Bytes of the fp16 random checkpoint (2 per parameter; safetensors headers and config are small)."""
    return 2 * parameter_count


def _free_disk_bytes(folder: Path) -> int:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def check_disk(model_id: str, folder: Path, size: int, unused: Sequence[tuple[Path, int]] = ()) -> None:
    """Refuse, before its save writes anything, a random checkpoint that the disk cannot hold (a full disk
    midway would fail after minutes, and starve everything else on the machine); named, the ``unused``
    random checkpoints of the same model and seed (randomweights.unused) the user can delete."""
    free = _free_disk_bytes(folder)
    need = int(size * 1.02) + 2**30  # shard headers, config, and a margin for the rest of the machine
    if need > free:
        deletable = (
            f" (such as the random checkpoints of this model and seed this run does not use, drawn on another "
            f"device or by an older eco-collect: {randomweights.shown(unused)})"
            if unused
            else ""
        )
        raise CollectError(
            f"the random fp16 checkpoint of {model_id} needs about {need / 1e9:.0f} GB in {folder}, which has "
            f"{free / 1e9:.0f} GB free: free disk space there{deletable}, or measure a model of at most about "
            f"{max(0, free - 2**30) / 2.04e9:.0f} B parameters"
        )


def build_device(device: str, size: int) -> str:
    """Where the random fp16 weights are drawn before saving: the measured GPU when they fit there
    (seconds), else host memory (a model larger than one board, to be sharded or quantized on load)."""
    import torch

    if device.startswith("cuda") and torch.cuda.mem_get_info(torch.device(device))[0] <= 1.1 * size:
        return "cpu"
    return device


def check_memory(model_id: str, device: str, build_on: str, size: int) -> None:
    """Refuse weights to be drawn in host memory (``build_on``) that it cannot hold."""
    if build_on != "cpu":
        return
    available = hostinfo.ram_available_bytes()
    if available <= 1.1 * size:
        raise CollectError(
            f"the random fp16 weights of {model_id} ({size / 1e9:.0f} GB) fit neither on {device} nor in the "
            f"{available / 1e9:.0f} GB of available host memory: measure a smaller model"
        )


def draw_label(device: str) -> str:
    """What, beside the seed, sets the weights a draw on ``device`` gives: the CPU's generator (``cpu``),
    or on a GPU PyTorch's Philox kernels, whose grid (which number lands in which weight) follows the
    board's multiprocessors and threads per multiprocessor (ATen's calc_execution_policy)."""
    if not device.startswith("cuda"):
        return re.sub(r"[^a-z0-9]+", "_", device.split(":")[0].lower())
    import torch

    props = torch.cuda.get_device_properties(torch.device(device))
    return f"cuda-{props.multi_processor_count}sm-{props.max_threads_per_multi_processor}threads"


class DoesNotFit(CollectError):
    """The model at this precision does not fit on the measured GPUs (accelerate would offload it)."""


def sharded_placement(devices: list[str]) -> dict[str, Any]:
    """from_pretrained arguments that spread the model evenly over exactly ``devices`` (accelerate's
    'balanced' device map; no other GPU, no CPU or disk offload: a model that does not fit raises)."""
    import torch

    indices = [int(d.removeprefix("cuda:")) for d in devices]
    budget = {i: int(torch.cuda.mem_get_info(i)[0] * 0.9) for i in indices}  # leave room for the KV cache
    return {"device_map": "balanced", "max_memory": budget}


def device_map_of(model: Any) -> dict[str, Any]:
    """Where accelerate put the model's modules. It records a map only when it spread them over
    several devices: a balanced map that fits a model on one board (a 0.5B model in nf4 on the lent
    2 x H200) leaves none, and then the weights' one device is the whole placement."""
    recorded = getattr(model, "hf_device_map", None)
    if recorded:
        return dict(recorded)
    devices = {str(t.device) for t in itertools.chain(model.parameters(), model.buffers())}
    if len(devices) != 1:
        raise CollectError(
            f"transformers reported no device map for a model whose weights lie on {', '.join(sorted(devices)) or 'no device'}"
        )
    return {"": devices.pop()}


def placement_of(device_map: dict[str, Any], devices: list[str]) -> Placement:
    """The record of accelerate's device map: module -> position of its GPU among the measured ones."""
    positions = {d: i for i, d in enumerate(devices)}
    out = {}
    for module, where in device_map.items():
        name = where if isinstance(where, str) else f"cuda:{where}"
        if name not in positions:
            raise DoesNotFit(
                f"module {module or '(the model)'} was placed on {name}, not on a measured GPU "
                f"({', '.join(devices)}): offloaded work is not measured; list more GPUs or use a smaller precision"
            )
        out[module] = positions[name]
    if not out:
        raise CollectError("transformers reported no device map for a sharded model")
    return Placement("device_map", out)


def quantization_record(precision: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The schema's quantization object, from the config transformers actually used (None: unquantized)."""
    dtype = catalogue.precision(precision).torch_dtype
    if config is None:
        return {"method": "none", "torch_dtype": dtype}
    out: dict[str, Any] = {"method": "bitsandbytes", "torch_dtype": dtype}
    for key in catalogue.BNB_FIELDS:
        value = config.get(key)
        out[key] = str(value).removeprefix("torch.") if key.endswith(("_dtype", "_storage")) else value
    out["llm_int8_threshold"] = float(out["llm_int8_threshold"])
    return out


def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def unload(loaded: LoadedModel | None) -> None:
    if loaded is not None:
        loaded.model = None
    _free()
