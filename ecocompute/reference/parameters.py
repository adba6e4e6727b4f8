"""Parameter counts from hyper-parameters, as transformers counts them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BIASED_QKV = {"qwen2"}  # q/k/v projections with bias
COUNTED_TYPES = ("llama", "mistral", "qwen2", "phi3")


def parameter_count(model_type: str, hp: Mapping[str, Any]) -> int:
    """Parameters of a decoder-only transformer of these hyper-parameters (embedding, attention with
    grouped KV heads, gated MLP, RMSNorm weights, untied head), as ``model.num_parameters()`` counts
    them for the model types named in COUNTED_TYPES."""
    if model_type not in COUNTED_TYPES:
        raise ValueError(f"no parameter formula for model_type {model_type!r}; record parameter_count")
    h, inter, layers = hp["hidden_size"], hp["intermediate_size"], hp["num_hidden_layers"]
    heads, kv_heads, vocab = hp["num_attention_heads"], hp["num_key_value_heads"], hp["vocab_size"]
    head_dim = hp.get("head_dim") or h // heads
    kv = kv_heads * head_dim
    attention = h * heads * head_dim + 2 * h * kv + heads * head_dim * h
    if model_type in _BIASED_QKV:
        attention += heads * head_dim + 2 * kv
    per_layer = attention + 3 * h * inter + 2 * h
    embeddings = vocab * h * (1 if hp.get("tie_word_embeddings") else 2)
    return embeddings + layers * per_layer + h
