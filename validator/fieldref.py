"""Human-readable references generated from the contract: the schema's fields and the finding codes.

``python -m validator.fieldref > docs/submission-fields.md``; tests keep that file and the code table
in CONTRIBUTING.md in sync.
"""

from __future__ import annotations

from typing import Any

from .contract import load_schema
from .findings import CATALOGUE

_CONSTRAINTS = (
    "const",
    "enum",
    "pattern",
    "format",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        target = _resolve(defs[ref.removeprefix("#/$defs/")], defs)
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "oneOf" in node:  # e.g. summary: object or null
        parts = [_resolve(p, defs) for p in node["oneOf"]]
        obj = next((p for p in parts if p.get("type") == "object"), parts[0])
        return {**obj, "type": ["object", "null"], **{k: v for k, v in node.items() if k != "oneOf"}}
    return node


def _type(node: dict[str, Any]) -> str:
    t = node.get("type")
    if t is None:
        return "const" if "const" in node else "enum" if "enum" in node else "any"
    return " \\| ".join(t) if isinstance(t, list) else t


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    for key in _CONSTRAINTS:
        if key in node:
            value = node[key]
            shown = ", ".join(f"`{v}`" for v in value) if key == "enum" else f"`{value}`"
            parts.append(f"{key}: {shown}")
    return "; ".join(parts).replace("|", "\\|")


def _rows(node: dict[str, Any], path: str, required: bool, defs: dict[str, Any]) -> list[str]:
    node = _resolve(node, defs)
    desc = node.get("description", "").replace("|", "\\|")
    rows = [f"| `{path or '/'}` | {_type(node)} | {'yes' if required else 'no'} | {_constraints(node)} | {desc} |"]
    props = node.get("properties", {})
    req = set(node.get("required", []))
    for name, child in props.items():
        rows += _rows(child, f"{path}/{name}", name in req, defs)
    items = node.get("items")
    if isinstance(items, dict):
        rows += _rows(items, f"{path}/[]", True, defs)
    return rows


def render() -> str:
    schema = load_schema()
    lines = [
        f"# Submission fields (schema {schema['$id'].rsplit('/', 1)[-1]})",
        "",
        "Generated from `schema/submission.schema.json` by `python -m validator.fieldref`; do not edit.",
        "Paths are JSON pointers; `[]` stands for every item of an array. Units are in the field names",
        "(`_j` joules, `_w` watts, `_s` seconds, `_tok_s` tokens per second, `_mib`/`_gib` memory, `_c` Celsius, `_pct` percent).",
        "",
        "| field | type | required | constraints | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += _rows(schema, "", True, schema["$defs"])
    return "\n".join(lines) + "\n"


def codes_table() -> str:
    """Markdown table of every finding code, its severity, meaning and fix."""
    rows = ["| code | severity | meaning | how to fix |", "|---|---|---|---|"]
    rows += [f"| `{c.code}` | {c.severity.value} | {c.title} | {c.fix} |" for c in CATALOGUE.values()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
