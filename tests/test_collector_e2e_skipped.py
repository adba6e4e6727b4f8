"""A skipped row's engine as eco-collect writes it, end to end on the CPU (attack v25 U4): a precision that never
loaded (out of memory while loading) has no engine to check, so its rows carry attention 'not loaded' and no token
check; a row skipped out of memory after its engine was built keeps that engine's check (collector/schedule.py
``_guarded``). eco-validate accepts both as written, and refuses a check on a row whose model never loaded. The
tiny model, fake board and clock are test_collector_e2e.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import test_collector_e2e as e2e
import torch
from fakes import Board, FakeTime, timed
from test_collector_e2e import _hooks, _request

from collector.collect import collect
from collector.models import ModelSource
from validator.run import exit_code, validate

# test_collector_e2e's fixtures, found here by name (see test_collector_e2e_random_weights.py).
tiny_config, _cuda_build = e2e.tiny_config, e2e._cuda_build


class _Bf16DoesNotLoad(ModelSource):
    def load(self, precision: str) -> Any:
        if precision == "bf16":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().load(precision)


def _errors(path: Path) -> set[tuple[str, str]]:
    return {(f.code, f.pointer) for f in validate([path], accepted_root=None).errors}


def test_a_row_whose_model_never_loaded_carries_no_check(tmp_path: Path, tiny_config: Path) -> None:
    request = _request(tmp_path, tiny_config, engines=("cuda-graph",))
    path, doc = collect(request, hooks=_hooks(source=_Bf16DoesNotLoad))
    rows = doc["measurements"]
    never = next(i for i, m in enumerate(rows) if m["precision"] == "bf16" and m["batch_size"] == 1)
    ran = next(m for m in rows if m["precision"] == "fp32" and m["batch_size"] == 1)
    assert rows[never]["status"] == "skipped" and "while loading" in rows[never]["skip_reason"]
    assert rows[never]["engine"]["attn_implementation"] == "not loaded"
    assert rows[never]["engine"]["token_check"] is None  # as eco-collect writes it
    assert exit_code(validate([path], accepted_root=None)) == 0

    # The check of the fp32 row at the same batch size (so its token count fits), under a hash of its own.
    rows[never]["engine"]["token_check"] = {**ran["engine"]["token_check"], "ids_sha256": "ab" * 32}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    assert _errors(edited) == {("protocol.token_check", f"/measurements/{never}/engine/token_check")}


def test_a_row_skipped_after_its_engine_was_built_keeps_the_check(tmp_path: Path, tiny_config: Path) -> None:
    board = Board(FakeTime())

    def out_of_memory_at_batch_2(engine: Any) -> None:
        if engine.decoding.batch_size == 2:  # the first warm-up request, after the engine and its check
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    request = _request(tmp_path, tiny_config, precisions=("fp32",), engines=("cuda-graph",))
    path, doc = collect(request, hooks=_hooks(board, workload=timed(board, on_request=out_of_memory_at_batch_2)))
    [skipped] = [m for m in doc["measurements"] if m["status"] == "skipped"]
    assert skipped["batch_size"] == 2 and skipped["skip_reason"].startswith("out of memory at batch 2")
    assert skipped["engine"]["attn_implementation"] != "not loaded"
    assert skipped["engine"]["token_check"] is not None
    assert exit_code(validate([path], accepted_root=None)) == 0
