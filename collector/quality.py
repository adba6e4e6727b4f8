"""Optional quality measurement: perplexity on a text corpus, outside every energy window."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocompute import smallfile
from ecocompute.cli import printable
from ecocompute.domain import Quality
from validator.loading import unsafe_text

from .errors import CollectError, CollectOptionError

WIKITEXT = "wikitext-2-raw-v1/test"
MAX_TOKENS = 4096  # the perplexity's tokens: the first this many of the corpus
# A local corpus is read whole (its sha256 is recorded, so that others can check it is the same file):
# bounded, as the 4,096 tokens need some 20 kB of English.
CORPUS_MAX_BYTES = 64 * 2**20
CORPUS_NAME_MAX_CHARS = 256  # the schema's maxLength of quality.corpus


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
    shown = printable(spec[:200])
    not_a_file = f"--quality {shown}: not 'wikitext' and not a readable file"
    try:
        smallfile.check(path)  # a FIFO or a device is not a file either: reading one would block or never end
    except smallfile.SmallFileError:
        raise CollectOptionError(not_a_file) from None
    why = unsafe_text(json.dumps(path.name, ensure_ascii=False))
    if why or len(path.name) > CORPUS_NAME_MAX_CHARS:
        # The name is recorded as quality.corpus: eco-validate would refuse the finished file.
        raise CollectOptionError(
            f"--quality {shown}: the file's name holds {why or f'more than {CORPUS_NAME_MAX_CHARS} characters'}, "
            "which the submission cannot record: rename or copy the file"
        )
    try:
        text = smallfile.read_text(path, CORPUS_MAX_BYTES)
    except smallfile.SmallFileError as exc:
        if exc.reason == "too_large":
            raise CollectError(
                f"--quality {shown}: more than {CORPUS_MAX_BYTES // 2**20} MiB; the perplexity reads only the first "
                f"{MAX_TOKENS} tokens: give a shorter file (WikiText-2's test split is 1.3 MB)"
            ) from None
        if exc.reason == "not_utf8":
            raise CollectError(f"--quality {shown}: not UTF-8 text (byte {exc.offset}); convert it to UTF-8") from None
        if exc.reason == "unreadable":
            raise CollectError(f"--quality {shown}: cannot be read ({exc.strerror})") from None
        raise CollectOptionError(not_a_file) from None  # gone or replaced since the check
    if not text.strip():  # found now, not at the first perplexity after a model has loaded
        raise CollectError(f"--quality {shown}: the file holds no text; the perplexity needs at least 2 tokens of it")
    return Corpus(path.name, text)


def perplexity(model: Any, tokenizer: Any, corpus: Corpus, max_tokens: int = MAX_TOKENS, window: int = 1024) -> Quality:
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
