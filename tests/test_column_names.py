"""advisor/, dataset_card/, ecocompute/, validator/buildable.py name every column through ecocompute.names, not a string.

Arrow and pandas code names a column by its string, so a column renamed in ``ecocompute.columns`` (the one
declaration of every column) left a literal behind without an error: ``row.get("old_name")`` read None,
``field.name in ("old_name", ...)`` dropped a check, the card's example code named what is gone (review32 F6).
``ecocompute.names`` makes one namespace per config from that declaration (``M.gpu_name == "gpu_name"``), and
this reads the three packages (ecocompute/columns.py, the declaration itself, aside) and the one validator module
that reads the dataset's rows (MODULES; the rest of validator/ reads the submission's JSON) to hold them to it:

- no string literal is a column's name, except where that text is something else that happens to be spelled
  so (ALLOWED says where and what it is; RECORDS, which names hold the submission's records as written, whose
  keys are the schema's field names) or a config's name;
- every ``M.x``, ``T.x``, ``S.x``, ``L.x`` is a column of its own config (an AttributeError otherwise, but only
  where the line runs);
- in the modules that read the dataset's rows (KEYED), every other string spelled like a column (snake_case, or a
  key read by [] or .get()) is a known non-column (NOT_COLUMNS), so that a name left behind by a rename cannot
  hide among them; and a column named inside a text as ``row["name"]`` (the card's example code) is declared.
  The rest of ecocompute/ reads and writes the submission's JSON and the reference tables, whose keys are the
  schema's field names (validator/ holds files to them), not columns.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from advisor import data
from dataset_card import checks, results
from ecocompute import catalogue, names, smallfile
from ecocompute.columns import CONFIGS

PACKAGES = ("advisor", "dataset_card", "ecocompute")
MODULES = ("validator/buildable.py",)  # read besides PACKAGES: it holds the flattened rows to the builder's rules
DECLARATION = "ecocompute/columns.py"  # where each column's name is written, once
KEYED = ("advisor/", "dataset_card/", "ecocompute/rows.py", *MODULES)  # the modules test 4 reads: those that read rows
DECLARED = {name for schema in CONFIGS.values() for name in schema.names}
SPACES = {"M": "measurements", "T": "trials", "S": "submissions", "L": "legacy"}  # ecocompute.names' namespaces
# Where a column's name is written as a string on purpose, by module and scope (the def or class, or the
# module-level name assigned): what the text is there, and why it must not follow a rename of the column.
_AUTHOR = "the author's own names (his CSV headers, his JSON keys), read as he wrote them"
_ADVICE_JSON = "the advice JSON's keys (eco-advise --format json): its own format, named like what they echo"
_SUBMISSION = "the submission JSON's field names (schema/), read and written as the file has them"
_QUANTIZATION = "the quantization record's fields, named as transformers' BitsAndBytesConfig arguments"
_REFERENCE = "the reference tables' own keys (ecocompute/reference/*.json)"
ALLOWED = {
    "advisor/render.py": {
        "_config": _ADVICE_JSON,
        "_point": _ADVICE_JSON,
        "_fit": _ADVICE_JSON,
        "evidence": _ADVICE_JSON,
        "to_json": _ADVICE_JSON,
        "render_text": "the advice JSON's keys, read back from evidence() to print the same rows",
        "_table": "a table header for people",
    },
    "dataset_card/card.py": {
        "front_matter": "the Hub's tags (gpu, bitsandbytes): words, not columns",
        "results_section": "a table header for people",
    },
    "dataset_card/legacy.py": {
        "_RAW_COLUMNS": _AUTHOR,
        "_AGGREGATE_TEXT": _AUTHOR,
        "_AGGREGATE_INTS": _AUTHOR,
        "_AGGREGATE_NUMBERS": _AUTHOR,
        "raw_trial_rows": _AUTHOR,
        "aggregate_rows": _AUTHOR,
    },
    "ecocompute/catalogue.py": {
        "STATUSES": "the statuses: values of the status column, not names of columns",
        "PREFILL_MODES": "the prefill modes: values of the prefill column",
        "BNB_FIELDS": _QUANTIZATION,
        "bnb_kwargs": _QUANTIZATION,
        "expected_record": _QUANTIZATION,
        "_int8": _QUANTIZATION,
        "_four_bit": _QUANTIZATION,
        "engine_flag": "EngineSpec's attribute names",
        "parse_precisions": "a word of an error message",
    },
    "ecocompute/domain.py": {"to_dict": _SUBMISSION, "from_dict": _SUBMISSION, "parse": _SUBMISSION},
    "ecocompute/engine.py": {"from_dict": _SUBMISSION},
    "ecocompute/ids.py": {
        "measurement_hash": "the hashed payload's key: another spelling would change every measurement id",
        "measurement_hashes": _SUBMISSION,
    },
    "ecocompute/measurement.py": {"to_dict": _SUBMISSION, "from_dict": _SUBMISSION},
    "ecocompute/reference/__init__.py": {
        "_model": _REFERENCE,
        "_accepted": _REFERENCE,
        "torch_cuda": _REFERENCE,
        "architectures": "the collector's model architecture record (model_type and hyper-parameters)",
    },
}
# Names that hold one of the submission's records as written (the domain model keeps them as the file's
# mappings), by module: a string read from one by [] or .get() is the schema's field name, not a column, even
# where the column that copies it is spelled the same (M.torch: sw["torch"]).
RECORDS = {
    "ecocompute/rows.py": {
        "driver": "environment.driver",
        "sw": "environment.software",
        "gates": "protocol.gates",
        "q": "a measurement's quantization record",
    },
}
# Spelled like a column (snake_case, or a key read by [] / .get()) but not one, by what each is. A key is listed
# by name, never "any key some dict writes": the advice JSON also writes keys named as columns, and such a rule
# let a renamed energy_vs_fp16 pass.
NOT_COLUMNS = {
    # the advice JSON's keys (advisor/render.py), read back by its text
    "row_id",
    "energy_per_sequence_j",
    "fp16_reference_id",
    "value",
    "low",
    "high",
    # the card's YAML front matter (dataset_card/card.py), read back by publish.py
    "dataset_info",
    "config_name",
    "splits",
    "num_examples",
    # the legacy/ CSV and JSON files' own names, read as the author wrote them (dataset_card/legacy.py)
    "total_time_s",
    "total_energy_j",
    "avg_power_w",
    "energy_j_per_1k_tok",
    "output_length",
    "n_runs_per_batch",
    "source",
    # a discrepancy between the author's documents (legacy.discrepancies)
    "topic",
    "a",
    "b",
    # what Arrow and pandera name: pc.value_counts' struct fields, pandera's failure cases
    "counts",
    "values",
    "index",
    # advisor.estimate.Crossover.kind
    "too_few_points",
    "none_in_range",
    # markdown-it's token types: the data changelog's headings and HTML (dataset_card/changelog.py)
    "heading_open",
    "html_block",
    "html_inline",
    # click's parameter names, an attribute read with getattr, the package's own name
    "repo_id",
    "legacy_dir",
    "status_code",
    "dataset_card",
}
# A known non-column set that lives elsewhere: smallfile's reasons and the catalogue's weights are compared.
KNOWN = NOT_COLUMNS | set(typing.get_args(smallfile.Reason)) | set(catalogue.WEIGHTS)
# Arrow's grouped aggregates are named <column>_<function>: the column is what must be declared.
AGGREGATE = re.compile(r"(.+)_(?:count|mean|stddev)")
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")  # two words or more: a one-word string is mostly prose
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
IN_TEXT = re.compile(r"""\[["']([a-z][a-z0-9_]*)["']\]""")  # row["name"] inside a string: the card's example code


def _strings(node: ast.AST) -> Iterator[ast.Constant]:
    """The string constants ``node`` is, or holds as a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _strings(element)


def _keys(tree: ast.AST, records: Collection[str] = ()) -> set[tuple[int, str]]:
    """(line, name) of every string in ``tree`` that names a column or a key like one. A dict display's keys
    are left to _literal_columns: the advice JSON's and the card's YAML's are named freely, and no column;
    so are the keys read from ``records`` (the submission's, RECORDS)."""
    written = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
    return set(_read(tree, written | _record_keys(tree, records)))


def _key_reads(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.Constant]]:
    """(holder, key) of every string key read by [] or .get(): ``sw["torch"]``, ``q.get("x")``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            yield from ((node.value, key) for key in _strings(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            yield from ((node.func.value, key) for key in (_strings(node.args[0]) if node.args else ()))


def _record_keys(tree: ast.AST, records: Collection[str]) -> set[int]:
    """Ids of the string keys read by [] or .get() from a name in ``records``."""
    return {id(key) for holder, key in _key_reads(tree) if isinstance(holder, ast.Name) and holder.id in records}


def _read(tree: ast.AST, skipped: set[int]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            if SNAKE.fullmatch(node.value):
                yield node.lineno, node.value
            for name in IN_TEXT.findall(node.value):
                yield node.lineno, name
    for _, key in _key_reads(tree):
        if IDENTIFIER.fullmatch(key.value) and id(key) not in skipped:
            yield key.lineno, key.value


def _sources() -> list[Path]:
    paths = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")] + [ROOT / m for m in MODULES]
    return sorted(path for path in paths if path.relative_to(ROOT).as_posix() != DECLARATION)


def _parsed() -> Iterator[tuple[str, ast.Module]]:
    for path in _sources():
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _keyed() -> Iterator[tuple[str, ast.Module]]:
    return ((path, tree) for path, tree in _parsed() if path.startswith(KEYED))


def _known(name: str) -> bool:
    aggregate = AGGREGATE.fullmatch(name)
    return name in DECLARED or name in CONFIGS or name in KNOWN or bool(aggregate and aggregate[1] in DECLARED)


def _scoped(tree: ast.AST, scope: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every node of ``tree`` with its scope: the innermost def or class around it, else the name a
    module-level assignment binds."""
    for child in ast.iter_child_nodes(tree):
        inner = scope
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = child.name
        elif not scope and isinstance(child, (ast.Assign, ast.AnnAssign)):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            inner = ",".join(t.id for t in targets if isinstance(t, ast.Name))
        yield inner, child
        yield from _scoped(child, inner)


def _literal_columns(tree: ast.AST, records: Collection[str] = ()) -> Iterator[tuple[str, int, str]]:
    """(scope, line, name) of every string literal in ``tree`` that is a column's name and not a config's, nor
    a key read from a name in ``records``."""
    read = _record_keys(tree, records)
    for scope, node in _scoped(tree):
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, str) and value in DECLARED and value not in CONFIGS and id(node) not in read:
            yield scope, node.lineno, value


def _namespaces(tree: ast.AST) -> dict[str, str]:
    """Local name -> config of each namespace a module imports from ecocompute.names (``from .names`` inside
    ecocompute/), and of each name bound to one (``col = M``: a local read faster in a hot loop)."""
    spaces = {
        alias.asname or alias.name: SPACES[alias.name]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module, node.level) in (("ecocompute.names", 0), ("names", 1))
        for alias in node.names
        if alias.name in SPACES
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in spaces:
            spaces.update({target.id: spaces[node.value.id] for target in node.targets if isinstance(target, ast.Name)})
    return spaces


def _attributes(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, config, name) of every ``M.name``-like read of a namespace the module imports."""
    spaces = _namespaces(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in spaces:
            yield node.lineno, spaces[node.value.id], node.attr


def test_no_module_spells_a_column_name_as_a_string() -> None:
    """A column is named as ``M.gpu_name``, not ``"gpu_name"``: written as a string it does not follow a rename."""
    found = [
        f"{path}:{line} ({scope or 'module'}): {name!r}"
        for path, tree in _parsed()
        for scope, line, name in _literal_columns(tree, RECORDS.get(path, {}))
        if scope not in ALLOWED.get(path, {})
    ]
    assert not found, "name the column through ecocompute.names (M, T, S, L), or say in ALLOWED why not:\n" + "\n".join(
        found
    )


def test_every_allowed_place_still_writes_a_column_name() -> None:
    """An ALLOWED entry whose place no longer spells a column's name is left over: it would excuse a new one."""
    used = {(path, scope) for path, tree in _parsed() for scope, _, _ in _literal_columns(tree, RECORDS.get(path, {}))}
    stale = [f"{path}: {scope}" for path, scopes in ALLOWED.items() for scope in scopes if (path, scope) not in used]
    assert not stale, stale


def test_every_record_name_still_holds_a_record_read_by_key() -> None:
    """A RECORDS entry no longer read by key is left over: it would excuse a column's name read from that name."""
    read = {(path, h.id) for path, tree in _parsed() for h, _ in _key_reads(tree) if isinstance(h, ast.Name)}
    stale = [f"{path}: {name}" for path, held in RECORDS.items() for name in held if (path, name) not in read]
    assert not stale, stale


def test_every_namespace_read_names_a_column_of_its_config() -> None:
    """``M.x`` for an x the measurements config does not declare fails only where the line runs; this reads all."""
    unknown = [
        f"{path}:{line}: {config} has no column {name!r}"
        for path, tree in _parsed()
        for line, config, name in _attributes(tree)
        if name not in CONFIGS[config].names
    ]
    assert not unknown, unknown


def test_every_key_spelled_like_a_column_is_a_declared_column_or_known() -> None:
    unknown = sorted(
        f"{path}:{line}: {name!r}"
        for path, tree in _keyed()
        for line, name in _keys(tree, RECORDS.get(path, {}))
        if not _known(name)
    )
    assert not unknown, "name a column ecocompute/columns.py declares, or list the key in NOT_COLUMNS:\n" + "\n".join(
        unknown
    )


def test_every_known_non_column_is_still_spelled_somewhere() -> None:
    """A NOT_COLUMNS entry no module spells any more is left over: it would excuse a column renamed to it."""
    spelled = {name for _, tree in _keyed() for _, name in _keys(tree)} | {
        node.value
        for _, tree in _keyed()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not NOT_COLUMNS - spelled, sorted(NOT_COLUMNS - spelled)


def test_the_guard_sees_a_column_in_each_way_one_is_named() -> None:
    """A column spelled as a string (a subscript, a .get, a column list, a dict's key), a stale one (also in the
    card's example code), and a namespace read (imported, aliased or bound to a local) of a column its config
    lacks. A key read from a submission's record (RECORDS) is the schema's field name: not flagged or checked."""
    source = (
        "from ecocompute.names import L as Legacy, M\n"
        "from .names import T\n"  # inside ecocompute/
        "z = T.rol, T.role\n"
        'r["energy_per_tokn_j"]\n'
        'r.get("gpu_nme")\n'
        'COLUMNS = ("measurement_id", "throughput_toks")\n'
        'SNIPPET = f"""print(rows[0]["energy_per_1k_tkens_j"])"""\n'
        'ok = {"row_id": r[M.measurement_id]}["row_id"]\n'
        'row = {"precision": "fp16", M.batch_size: 1}\n'
        'config = "measurements"\n'
        "x = M.gpu_nme, Legacy.gpu, Legacy.gpu_name, M.gpu_name\n"
        "col = M\n"
        "y = col.gpu_name, col.gpu_nam\n"
        'flat = {M.torch: sw["torch"], "python": sw.get("python"), M.os: host["os"], M.batch_size: sw["batch_sze"]}\n'
    )
    tree = ast.parse(source)
    records = {"sw"}  # its keys are its own: torch, python and batch_sze are neither flagged nor checked
    stale = sorted(name for _, name in _keys(tree, records) if not _known(name))
    assert stale == ["energy_per_1k_tkens_j", "energy_per_tokn_j", "gpu_nme", "throughput_toks"]
    assert sorted((scope, name) for scope, _, name in _literal_columns(tree, records)) == [
        ("COLUMNS", "measurement_id"),
        ("flat", "os"),  # read from a name that RECORDS does not list
        ("flat", "python"),  # a dict display's key, even beside a record's read
        ("row", "precision"),
    ]
    assert ("flat", "torch") in {(s, n) for s, _, n in _literal_columns(tree)}  # without RECORDS: flagged
    read = [(config, name) for _, config, name in _attributes(tree) if name not in CONFIGS[config].names]
    assert sorted(read) == [
        ("legacy", "gpu_name"),
        ("measurements", "gpu_nam"),
        ("measurements", "gpu_nme"),
        ("trials", "rol"),
    ]


def test_each_config_has_a_namespace_of_exactly_its_columns() -> None:
    """``M.gpu_name`` is the plain string "gpu_name", for every column its config declares and no other."""
    assert set(SPACES.values()) == CONFIGS.keys()
    for space, config in SPACES.items():
        namespace, declared = getattr(names, space), CONFIGS[config].names
        assert {n: getattr(namespace, n) for n in declared} == {n: n for n in declared}
        assert all(type(getattr(namespace, n)) is str for n in declared)
        assert set(type(namespace).__slots__) == set(declared), config
        assert not hasattr(namespace, "__dict__"), config  # slots only: nothing else can be set on it
    with pytest.raises(AttributeError, match="'LegacyColumns' object has no attribute 'gpu_name'"):
        names.L.gpu_name  # noqa: B018 - the attribute read is the test
    with pytest.raises(AttributeError, match="'MeasurementsColumns' object has no attribute 'energy_per_tokn_j'"):
        names.M.energy_per_tokn_j  # noqa: B018


def _read_by_advisor() -> dict[str, tuple[str, ...]]:
    return {"measurements": data.MEASUREMENT_COLUMNS, "trials": data.TRIAL_COLUMNS, "legacy": data.LEGACY_COLUMNS}


def test_the_column_lists_name_columns_of_their_own_config() -> None:
    """Where a module says which config it reads, each name is a column of that config (ecocompute.rows' FP16_KEY
    is spelled there), and each rule names a column that is read: a rule on a column not read is never applied."""
    for config, read_names in _read_by_advisor().items():
        read = set(read_names)
        assert read <= set(CONFIGS[config].names), config
        assert set(data._POSITIVE[config]) <= read, config
        assert set(data._NULLABLE[config]) <= read, config
    assert set(data._FIGURES) <= set(data.MEASUREMENT_COLUMNS)
    assert set(results.COLUMNS) <= set(CONFIGS["measurements"].names)
    for config in checks.MODELS:  # a pandera model's fields are its class's attribute names
        assert set(checks.columns(config)) <= set(CONFIGS[config].names), config
