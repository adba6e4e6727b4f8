"""The fixed workload: a shipped prompt (or seeded token ids), greedy, forced output length."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import CollectError

PROMPT_NAME = "v1"


@dataclass(frozen=True)
class Prompt:
    source: str
    sha256: str
    input_ids: list[int]

    @property
    def token_count(self) -> int:
        return len(self.input_ids)

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "token_count": self.token_count}


def builtin_prompt(tokenizer: Any) -> Prompt:
    text = resources.files("collector").joinpath(f"data/prompt_{PROMPT_NAME}.txt").read_text(encoding="utf-8")
    ids = tokenizer(text)["input_ids"]
    return Prompt(f"builtin:{PROMPT_NAME}", hashlib.sha256(text.encode("utf-8")).hexdigest(), list(ids))


def seeded_prompt(vocab_size: int, n_tokens: int, seed: int = 0) -> Prompt:
    """Prompt for models without a tokenizer (random weights): fixed, seeded token ids."""
    rng = random.Random(seed)
    ids = [rng.randrange(3, vocab_size) for _ in range(n_tokens)]  # skip the usual special ids
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    return Prompt(f"seeded-token-ids:{seed}:{n_tokens}", digest, ids)


class Generator:
    """One request = one generate() call over the batch; returns the verified new-token count."""

    def __init__(self, model: Any, prompt: Prompt, batch_size: int, output_tokens: int, cache: str = "dynamic") -> None:
        import torch
        from transformers import GenerationConfig

        self.model = model
        self.expected_tokens = batch_size * output_tokens
        device = next(model.parameters()).device
        self.input_ids = torch.tensor([prompt.input_ids] * batch_size, device=device)
        self.attention_mask = torch.ones_like(self.input_ids)
        eos = getattr(model.config, "eos_token_id", None)
        pad = getattr(model.config, "pad_token_id", None)
        pad = pad if pad is not None else (eos[0] if isinstance(eos, list) else eos if eos is not None else 0)
        self.config = GenerationConfig(
            max_new_tokens=output_tokens,
            min_new_tokens=output_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=pad,
            eos_token_id=eos,
            cache_implementation="static" if cache == "static" else None,
        )
        self._cuda = device.type == "cuda"
        self._device = device

    def synchronize(self) -> None:
        if self._cuda:
            import torch

            torch.cuda.synchronize(self._device)  # the model's GPU, which need not be the current one

    def run_request(self) -> int:
        import torch

        with torch.inference_mode():
            out = self.model.generate(
                input_ids=self.input_ids, attention_mask=self.attention_mask, generation_config=self.config
            )
        new = (out.shape[1] - self.input_ids.shape[1]) * out.shape[0]
        if new != self.expected_tokens:
            raise CollectError(f"generate() produced {new} new tokens, expected {self.expected_tokens}")
        return int(new)
