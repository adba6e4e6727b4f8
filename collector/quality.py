"""Optional quality measurement: perplexity on a text corpus, outside every energy window."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocompute.domain import Quality

from .errors import CollectError

WIKITEXT = "wikitext-2-raw-v1/test"


@dataclass(frozen=True)
class Corpus:
    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_corpus(spec: str) -> Corpus:
    """'wikitext' (WikiText-2 raw test split via datasets) or a path to a local UTF-8 text file."""
    if spec == "wikitext":
        try:
            from datasets import load_dataset

            rows = load_dataset("wikitext", "wikitext-2-raw-v1", split="test")
        except Exception as exc:
            raise CollectError(
                f"cannot load WikiText-2 ({exc}); pass --quality PATH to a local copy of the text"
            ) from exc
        return Corpus(WIKITEXT, "\n\n".join(rows["text"]))
    path = Path(spec)
    if not path.is_file():
        raise CollectError(f"--quality {spec!r}: not 'wikitext' and not a readable file")
    return Corpus(path.name, path.read_text(encoding="utf-8"))


def perplexity(model: Any, tokenizer: Any, corpus: Corpus, max_tokens: int = 4096, window: int = 1024) -> Quality:
    """Sliding-window perplexity over the first ``max_tokens`` tokens (stride = window)."""
    import torch

    ids = tokenizer(corpus.text, return_tensors="pt")["input_ids"][0][:max_tokens]
    if ids.numel() < 2:
        raise CollectError(f"quality corpus {corpus.name} has fewer than 2 tokens")
    device = next(model.parameters()).device
    nll, counted = 0.0, 0
    with torch.inference_mode():
        for start in range(0, ids.numel() - 1, window):
            chunk = ids[start : start + window + 1].unsqueeze(0).to(device)
            if chunk.shape[1] < 2:
                break
            out = model(input_ids=chunk, labels=chunk)
            n = chunk.shape[1] - 1
            nll += float(out.loss) * n
            counted += n
    return Quality("perplexity", math.exp(nll / counted), corpus.name, corpus.sha256, counted)
