"""Seeded prompts: the prompt of a model without a tokenizer (random weights) is fixed, seeded token ids,
named by a source ``seeded-token-ids:<seed>:<tokens>`` and checked by the SHA-256 of its ids."""

from __future__ import annotations

import functools
import hashlib
import random
import re

SEEDED_FIRST_ID = 3  # seeded prompts skip the usual special token ids 0-2
# As eco-collect spells them (collector/workload.py: f"seeded-token-ids:{seed}:{n_tokens}"): decimal
# without leading zeros, so one prompt has one source (":00:064" named eco-collect's ":0:64" apart).
_SEEDED = re.compile(r"seeded-token-ids:(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,6})")


def seeded_token_ids(vocab_size: int, n_tokens: int, seed: int) -> list[int]:
    """The prompt of a model without a tokenizer (random weights): fixed, seeded token ids."""
    rng = random.Random(seed)
    return [rng.randrange(SEEDED_FIRST_ID, vocab_size) for _ in range(n_tokens)]


@functools.lru_cache(maxsize=64)
def seeded_prompt_sha256(vocab_size: int, n_tokens: int, seed: int) -> str:
    ids = seeded_token_ids(vocab_size, n_tokens, seed)
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def seeded_tokens(source: str) -> int | None:
    """The token count a seeded prompt's source names, None for other sources."""
    seeded = seeded_prompt(source)
    return seeded[1] if seeded else None


def seeded_prompt(source: str) -> tuple[int, int] | None:
    """(seed, token count) of a seeded prompt's source, None for other sources."""
    match = _SEEDED.fullmatch(source)
    return (int(match.group(1)), int(match.group(2))) if match else None
