"""The architecture a model id names: its config from the reference table, a local config.json (which
must describe the table's architecture) or the Hub, and its parameter count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecocompute import reference, smallfile
from ecocompute.cli import printable

from .errors import CollectError


def _same_architecture(config: Any, row: dict[str, Any] | None, model_id: str) -> None:
    """A local config.json must describe the architecture the reference table has for the model:
    eco-validate holds the file to the table's parameter count (reference.parameter_count), so another
    one is lost after the run. Compared: the sizes, the row's other hyperparameters (eco-validate cannot
    see them: the file would be published under the table's model with another computation), then
    the count itself (tied embeddings, a head_dim the row leaves out, biases change it too), as
    eco-validate compares it."""
    if row is None:
        return
    from validator.hardware import PARAMETER_TOLERANCE

    compared = (*reference.ARCHITECTURE_SIZES, "model_type", "vocab_size")
    differs = [
        f"{key} {getattr(config, key, None)!r} (the table: {value!r})"
        for key, value in row.items()
        if key in compared and getattr(config, key, None) != value
    ]
    if not differs:
        differs = _hyperparameters_differ(config, row, compared)
    if not differs:
        try:
            counted = count_parameters(config)
        except Exception as exc:  # transformers raises many kinds for a config it cannot build
            raise CollectError(
                f"the --config for {model_id} does not build a model: {type(exc).__name__}: {exc}"
            ) from exc
        expected = reference.default().models[model_id].parameter_count
        if abs(counted - expected) > PARAMETER_TOLERANCE * expected:
            differs = [f"{counted:,} parameters (the table: {expected:,})"]
    if differs:
        raise CollectError(
            f"the --config for {model_id} is not the architecture ecocompute/reference/models.json has for it: "
            f"{'; '.join(differs[:4])}; eco-validate would refuse the file after the run: use the table's row "
            "(leave out --config) or correct the row, with its source"
        )


def _hyperparameters_differ(config: Any, row: dict[str, Any], skip: tuple[str, ...]) -> list[str]:
    """The row's other hyperparameters, which change the computation but not the parameter count
    (rope_theta and rope_scaling, the context length, a sliding window), as transformers reads both
    configs: version 5 folds rope_theta and rope_scaling into one ``rope_parameters``."""
    from transformers import AutoConfig

    fields = dict(row)
    table = AutoConfig.for_model(fields.pop("model_type"), **fields).to_dict()
    given = config.to_dict()
    out, seen = [], set()
    for key in row:
        if key in skip:
            continue
        name = "rope_parameters" if key in ("rope_theta", "rope_scaling") and "rope_parameters" in table else key
        if name not in seen and given.get(name) != table.get(name):
            out.append(f"{name} {given.get(name)!r} (the table: {table.get(name)!r})")
        seen.add(name)
    return out


MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few kilobytes; transformers reads the whole file


def _readable_config(config_path: Path) -> None:
    """--config (a config.json, or a folder holding one) is a small regular file, refused before
    transformers reads it whole: a weights file named by mistake filled the memory, and a FIFO or a
    device there read as "Unrecognized model"."""
    file = config_path / "config.json" if config_path.is_dir() else config_path
    shown = printable(str(file))
    try:
        smallfile.check(file, MAX_CONFIG_BYTES)  # only judged: transformers opens it
    except smallfile.SmallFileError as exc:
        if exc.reason == "not_regular":
            raise CollectError(f"--config {shown} is not a regular file: give a config.json") from None
        if exc.reason == "too_large":
            raise CollectError(
                f"--config {shown} holds {exc.size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a config.json "
                "takes: give the model's config.json"
            ) from None
        raise CollectError(f"--config {shown} cannot be read ({exc.strerror}): give a config.json") from None


def build_config(model_id: str, config_path: Path | None = None) -> Any:
    """Architecture config: a local config.json, the built-in table, or the Hub."""
    from transformers import AutoConfig

    table = reference.architectures()
    if config_path is not None:
        _readable_config(config_path)
        try:
            config = AutoConfig.from_pretrained(config_path)
        except Exception as exc:  # transformers raises many kinds for a file it cannot read as a config
            raise CollectError(f"--config {config_path} is not a config.json transformers reads: {exc}") from exc
        _same_architecture(config, table.get(model_id), model_id)
        return config
    if model_id in table:
        fields = dict(table[model_id])
        return AutoConfig.for_model(fields.pop("model_type"), **fields)
    try:
        return AutoConfig.from_pretrained(model_id)
    except OSError as exc:
        known = ", ".join(sorted(table))
        raise CollectError(
            f"no architecture for {model_id}: not in the built-in table ({known}) and not on the Hub"
        ) from exc


def count_parameters(config: Any) -> int:
    """Parameters of the unquantized architecture (4-bit packing would halve a count taken after loading)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return int(AutoModelForCausalLM.from_config(config).num_parameters())
