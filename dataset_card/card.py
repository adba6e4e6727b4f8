"""Render the dataset card (README.md) from the template: YAML front matter plus the body, every
table and figure collected from the data first (results.py, figures.py), units and meanings from
the columns' metadata (ecocompute.columns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pyarrow as pa
import yaml
from datasets import Features

from ecocompute import columns, diskerrors
from ecocompute.cli import first_few
from ecocompute.columns import CONFIGS
from ecocompute.gates import DEFAULT_GATES
from ecocompute.markdown import cell
from ecocompute.names import M

from . import legacy
from .figures import Figure
from .figures import drawable as figures_drawable
from .outdir import LOCAL_BUILD
from .results import FIGURES, ID_PREFIX, MAX_IDS_SHOWN, Line, Results
from .versions import DEV_CORE, Version
from .writer import PARQUET_NAME

PRETTY_NAME = "ecocompute LLM inference energy"


@dataclass(frozen=True)
class Inputs:
    """Everything the card shows, collected before rendering."""

    version: Version
    repo_id: str
    year: str
    measurements: pa.Table
    results: Results
    figures: Sequence[Figure]
    counts: dict[str, int]
    sizes: dict[str, int]
    legacy_cv: list[tuple[int, float, int]]
    discrepancies: list[dict[str, str]]
    legacy_sources: list[legacy.Source]
    changelog: str
    report: str  # the report's Markdown (report.py): crossovers, batch size, power; legacy beside


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def features_yaml(schema: pa.Schema) -> list[dict[str, Any]]:
    return Features.from_arrow_schema(schema)._to_yaml_list()


def front_matter(counts: dict[str, int], sizes: dict[str, int]) -> str:
    data = {
        "license": "cc-by-4.0",
        "pretty_name": PRETTY_NAME,
        "language": ["en"],
        "tags": ["energy", "gpu", "llm", "inference", "quantization", "bitsandbytes", "nvml", "green-ai"],
        # the default config's rows: what load_dataset gives without a config name (trials hold about 7 x more)
        "size_categories": [size_category(counts["measurements"])],
        "configs": [
            {
                "config_name": name,
                "data_files": [{"split": "train", "path": f"{name}/{PARQUET_NAME}"}],
                **({"default": True} if name == "measurements" else {}),
            }
            for name in CONFIGS
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features_yaml(schema),
                "splits": [{"name": "train", "num_bytes": sizes[name], "num_examples": counts[name]}],
            }
            for name, schema in CONFIGS.items()
        ],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000).strip()


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"```python\n{text.strip()}\n```"


def version_line(version: Version) -> str:
    if version.is_release:
        return f"Version **{version.text}** (Hub tag `{version.tag}`)."
    if version.text.startswith(f"{DEV_CORE}-dev+"):
        what = "a local build"
    elif version.prerelease is not None:
        what = "a pre-release"
    else:  # X.Y.Z+metadata: semver's build metadata, which no release tag carries
        what = f"a build of {'.'.join(map(str, version.core))} labelled with build metadata"
    return f"Build **{version.text}**: {what}, not a release (releases are X.Y.Z, tagged vX.Y.Z on the Hub)."


def loading_section(version: Version, repo_id: str, example_id: str | None) -> str:
    revision = f', revision="{version.tag}"' if version.is_release else ""
    pin = (
        f"# {version.tag} is this release; pin a tag for reproducible analyses"
        if version.is_release
        else f"# pin a release tag (vX.Y.Z, see https://huggingface.co/datasets/{repo_id}/tree/main) for reproducible analyses"
    )
    hub = _code(
        f"""
from datasets import load_dataset

{pin}
rows = load_dataset("{repo_id}", split="train"{revision})  # measurements (default config)
trials = load_dataset("{repo_id}", "trials", split="train"{revision})  # every trial
legacy = load_dataset("{repo_id}", "legacy", split="train"{revision})  # earlier published numbers, unvalidated
"""
    )
    # The folder this card is in, whatever --out named it: the card's bytes depend on the data alone (a build into
    # another folder is byte for byte the same), and a path written here loaded another build, or none, from
    # a card built with --out elsewhere. Absolute: datasets names a dataset by its folder's name, and "." has none.
    # Run elsewhere (a checkout's root), the default build.
    local = _code(
        f"""
import os

from datasets import load_dataset

# the folder this card is in, when run there; else `eco-dataset build`'s default, from the repository's root
build = os.getcwd() if os.path.isdir("measurements") else "{LOCAL_BUILD}"
rows = load_dataset(build, split="train")
trials = load_dataset(build, "trials", split="train")
"""
    )
    copy = (
        "From a copy on disk, run in the folder that holds this card: a local build (`eco-dataset build`), or this "
        f'release downloaded (`huggingface_hub.snapshot_download("{repo_id}", repo_type="dataset", '
        f'revision="{version.tag}", local_dir="llm-energy")`):'
    )
    parts = [
        "From the Hugging Face Hub:"
        if version.is_release
        else "From this build, run in the folder that holds this card:",
        hub if version.is_release else local,
        copy if version.is_release else "From the Hugging Face Hub, a release:",
        local if version.is_release else hub,
    ]
    if example_id is None:
        parts.insert(
            0,
            "This build has no accepted measurement yet, and `datasets` cannot load an empty split: "
            "the snippets below work once one is accepted.",
        )
    else:
        parts += [
            "Then, with `rows` and `trials` loaded either way: rows that passed every gate, and the rows and "
            "trials behind a line of the results tables (by the measurement id prefix it lists):",
            _code(
                f"""
ok = rows.filter(lambda r: r["status"] == "ok")
behind = rows.filter(lambda r: r["measurement_id"].startswith("{example_id[:ID_PREFIX]}"))
window = trials.filter(lambda t: t["measurement_id"] == behind[0]["measurement_id"] and t["role"] == "measured")
print(behind[0]["energy_per_1k_tokens_j"], len(window), "trials in its gate window")
"""
            ),
        ]
    return "\n\n".join(parts)


def counts_section(measurements: pa.Table, counts: dict[str, int]) -> str:
    if not measurements.num_rows:
        return "No accepted submissions yet."
    lines = [
        f"{counts['measurements']} measurements ({counts['trials']} trials) from {counts['submissions']} submission(s)."
    ]
    for column in (M.gpu_name, M.model_id, M.precision, M.engine, M.status, M.weights):
        tally = Counter(measurements.column(column).to_pylist())
        shown = sorted(tally.items())
        rows = [[cell(k), v] for k, v in shown[:20]]
        if len(shown) > 20:
            rows.append([f"({len(shown) - 20} more)", sum(v for _, v in shown[20:])])
        lines += ["", _table([column, "measurements"], rows)]
    return "\n".join(lines)


def _fmt(column: str, x: float | None) -> str:
    if x is None:
        return "—"
    if column.endswith("_pct"):
        return f"{x:.2f}"
    if column.endswith("_vs_fp16"):
        return f"{x:.2f}x"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _figure_cell(line: Line, column: str) -> str:
    median, low, high = line.median[column], line.low[column], line.high[column]
    text = _fmt(column, median)
    if len(line.ids) > 1 and low is not None and high is not None and low != high:
        text += f" ({_fmt(column, low)}–{_fmt(column, high)})"
    return text


def _status_cell(line: Line) -> str:
    text = ", ".join(s if n == len(line.ids) else f"{s} x{n}" for s, n in line.statuses)
    return text + (f" ({', '.join(line.failed_gates)})" if line.failed_gates else "")


def _ids_cell(line: Line) -> str:
    return first_few([f"`{i[:ID_PREFIX]}`" for i in line.ids], MAX_IDS_SHOWN)


_RESULTS_INTRO = (
    "Per GPU and model, one line per configuration (engine, batch size, precision): the median over its "
    "rows of energy per 1,000 generated tokens (gross, and net of idle power), throughput, the spread within "
    "each row's gate window (coefficient of variation of throughput and of energy per token), energy per "
    "request (J/request: one generate() call over the whole batch, energy per token x batch size x output "
    "tokens), and energy per token relative to fp16 (gross: the `energy_vs_fp16` column, each row over the fp16 "
    "row measured on the same GPU board with the same engine, batch size and workload; the median of the rows "
    "that have one). `—` there means that board measured no fp16 row with figures for it (none, or skipped), "
    "even where the table's fp16 line holds rows of other boards: a line's ratio is not its median over the fp16 "
    "line's, which pool boards, and a ratio of the net figures can fall on the other side of 1 (net energy "
    "leaves out idle power over the time taken, more of it for a slower precision). Where several "
    "rows share a configuration (repeat sessions), their range follows the median. **status** counts the rows' "
    "gate status and names the gates that failed: `gate_failed` rows are included, so read their figures with "
    "their CVs. **n** counts the rows behind a line and **rows behind it** gives their `measurement_id` "
    "prefixes (see *Load it* to select them)."
)


_FIGURES_KEY = (
    "In both figures a point is a line of the tables above (its median): filled where every row behind it "
    "passed its gates, hollow where one did not (`gate_failed`); skipped rows add no point. A request is one "
    "generate() call over the whole batch, as in the J/request column."
)


def results_section(results: Results, figures: Sequence[Figure]) -> str:
    if not results.settings:
        return "No accepted measurements yet."
    header = ["engine", "batch", "precision", "n", "status", *(label for _, label in FIGURES), "rows behind it"]
    parts = [_RESULTS_INTRO]
    rows = sum(s.rows for s in results.settings)
    random = sum(s.rows for s in results.settings if s.weights == "random_init")
    if random:
        which = "All" if random == rows else f"{random} of the"
        parts.append(
            f"**{which} {rows} rows in these tables ran random-initialised weights** (`weights = random_init`: the "
            "architecture built without its trained checkpoint), labelled `(random_init)` in each table's title: "
            "see *Known limitations* for what that does and does not change."
        )
    for s in results.settings:
        parts.append(f"### {cell(s.gpu_name)} · {cell(s.model_id)} ({cell(s.weights)}), {s.rows} rows")
        table = [
            [cell(x.engine), x.batch_size, cell(x.precision), len(x.ids), _status_cell(x)]
            + [_figure_cell(x, c) for c, _ in FIGURES]
            + [_ids_cell(x)]
            for x in s.lines
        ]
        parts.append(_table(header, table))
    if results.omitted_settings:
        parts.append(
            f"{results.omitted_settings} more GPU/model settings ({results.omitted_rows} rows) have no table here: "
            "the card shows the settings with the most rows; every row is in the `measurements` config."
        )
    for figure in figures:
        drawn = "; ".join(f"{cell(s.gpu_name)} · {cell(s.model_id)}" for s in figure.settings)
        parts += [f"**{figure.title}** ({drawn}):", f"![{figure.title}]({figure.path})"]
    if figures:
        parts.append(_FIGURES_KEY)
        total = len(figures_drawable(results.settings))
        if total > len(figures[0].settings):
            parts.append(
                f"The figures draw {len(figures[0].settings)} of the {total} GPU/model settings with figures: each GPU "
                "in turn gives its setting with the most rows. Every setting is in the tables above, and the "
                "report below draws every ratio to fp16 per GPU."
            )
    return "\n\n".join(parts)


def columns_section() -> str:
    parts = []
    for name, schema in CONFIGS.items():
        parts += [f"### `{name}`", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        for f in schema:
            parts.append(f"| `{f.name}` | {f.type} | {cell(columns.unit(f))} | {cell(columns.description(f))} |")
        parts.append("")
    return "\n".join(parts).rstrip()


def legacy_sources_section(sources: Sequence[legacy.Source]) -> str:
    rows = [[cell(s.document), s.rows, cell(s.licence), cell(s.citation) or "—"] for s in sources]
    return _table(["source document", "rows", "licence", "citation the source asks for"], rows)


def render(inputs: Inputs) -> str:
    template = Template(
        resources.files("dataset_card").joinpath("templates/README.md.tmpl").read_text(encoding="utf-8")
    )
    example = inputs.results.settings[0].lines[0].ids[0] if inputs.results.settings else None
    return template.substitute(
        front_matter=front_matter(inputs.counts, inputs.sizes),
        pretty_name=PRETTY_NAME,
        version=inputs.version.text,
        version_line=version_line(inputs.version),
        loading=loading_section(inputs.version, inputs.repo_id, example),
        repo_id=inputs.repo_id,
        year=inputs.year,
        id_prefix=ID_PREFIX,
        counts=counts_section(inputs.measurements, inputs.counts),
        results=results_section(inputs.results, inputs.figures),
        report=inputs.report.strip(),
        columns=columns_section(),
        gate_tput=DEFAULT_GATES.throughput_cv_max_pct,
        gate_power=DEFAULT_GATES.power_cv_max_pct,
        gate_ept=DEFAULT_GATES.energy_per_token_cv_max_pct,
        gate_min=DEFAULT_GATES.min_trials,
        legacy_rows=inputs.counts["legacy"],
        legacy_author=legacy.AUTHOR,
        legacy_cv=_table(
            ["batch size", "trials", "throughput CV %"], [[b, n, f"{cv:.2f}"] for b, cv, n in inputs.legacy_cv]
        ),
        discrepancies=_table(
            ["topic", "one source says", "another says"],
            [[cell(d["topic"]), cell(d["a"]), cell(d["b"])] for d in inputs.discrepancies],
        ),
        legacy_sources=legacy_sources_section(inputs.legacy_sources),
        legacy_repositories=", ".join(legacy.REPOSITORIES),
        legacy_repository_licence=legacy.REPOSITORY_LICENCE,
        legacy_bibtex=legacy.BIBTEX,
        changelog=inputs.changelog.strip() or "(none)",
    )


def write(text: str, out_dir: Path) -> Path:
    path = out_dir / "README.md"
    with diskerrors.writing(path):
        path.write_text(text, encoding="utf-8")
    return path
