"""The fixed workload's prompt: the shipped text (tokenized), or seeded token ids where there is no
tokenizer (random weights). Greedy decoding and the forced output length live in the engines."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ecocompute import reference

PROMPT_NAME = "v1"


@dataclass(frozen=True)
class Prompt:
    source: str
    sha256: str
    input_ids: list[int]

    @property
    def token_count(self) -> int:
        return len(self.input_ids)


def builtin_prompt(tokenizer: Any) -> Prompt:
    text = resources.files("collector").joinpath(f"data/prompt_{PROMPT_NAME}.txt").read_text(encoding="utf-8")
    ids = tokenizer(text)["input_ids"]
    return Prompt(f"builtin:{PROMPT_NAME}", hashlib.sha256(text.encode("utf-8")).hexdigest(), list(ids))


def seeded_prompt(vocab_size: int, n_tokens: int, seed: int = 0) -> Prompt:
    """Prompt for models without a tokenizer (random weights): the reference tables' seeded token ids,
    so the validator can recompute their hash."""
    ids = reference.seeded_token_ids(vocab_size, n_tokens, seed)
    return Prompt(
        f"seeded-token-ids:{seed}:{n_tokens}", reference.seeded_prompt_sha256(vocab_size, n_tokens, seed), ids
    )
