"""What the GPU probes share: a model built from its architecture config with random weights (nothing
downloaded but the config) on GPU 0, from the options --model, --precision and --cache-dir."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from collector.models import ModelSource, torch_device
from collector.nvml import Nvml


def add_options(parser: argparse.ArgumentParser, model: str) -> None:
    parser.add_argument("--model", default=model)
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--cache-dir", type=Path, default=Path(".eco-collect/models"))


def load(args: argparse.Namespace) -> tuple[ModelSource, Any]:
    """The model source and the model loaded at ``args.precision`` on GPU 0."""
    with Nvml([0]) as nvml:
        device = torch_device(nvml.uuids()[0])
    source = ModelSource(args.model, weights="random", revision=None, device=device, cache_dir=args.cache_dir)
    return source, source.load(args.precision)
