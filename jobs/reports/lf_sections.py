"""The run report's LF sections: the LF table, coverage and accuracy bars of the widest-covering LFs,
and their pairwise conflict heatmap (from the vote-pattern counts the run's label model read)."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
from deltalake import DeltaTable

from jobs.core.settings import Settings
from jobs.lake.tables import table
from jobs.reports.charts import heatmap, lf_bars
from jobs.reports.html_table import html_table
from jobs.reports.summary import lf_analysis

HEATMAP_LFS = 30
"""The charts show the most-covering LFs (a 136 x 136 grid is unreadable and heavy)."""
TOP_CONFLICTS = 10


def label_model_row(settings: Settings, dataset: str, run_id: str) -> dict[str, Any] | None:
    """The run's row of the label_models table (model id, selection, pattern-counts version), or None."""
    models = table(settings, dataset, "label_models")
    if not models.exists():
        return None
    con = duckdb.connect()
    con.register("lm", DeltaTable(str(models.path)).to_pyarrow_dataset())
    columns = ("model_id", "selection", "pattern_counts_version", "lf_names")
    found = con.execute(f"SELECT {', '.join(columns)} FROM lm WHERE _run_id = ?", [run_id]).fetchone()
    return None if found is None else dict(zip(columns, found, strict=True))


def lf_section(settings: Settings, dataset: str, run_id: str) -> str:
    if not table(settings, dataset, "lf_analysis").exists():
        return "<h2>Labeling functions</h2><p>no LF analysis</p>"
    rows = lf_analysis(settings, dataset, run_id)
    if not rows:
        return "<h2>Labeling functions</h2><p>no LF analysis for this run</p>"

    def pct(value: Any) -> str:
        return "-" if value is None else f"{value:.1%}"

    body = [
        [
            r["lf"],
            r["kind"],
            r["lf_version"],
            ",".join(map(str, r["polarity"] or [])),
            pct(r["coverage"]),
            pct(r["overlaps"]),
            pct(r["conflicts"]),
            f"{r['correct']}/{r['incorrect']}",
            pct(r["empirical_accuracy"]),
            pct(r.get("learned_accuracy")),
            r["errors"],
        ]
        for r in rows
    ]
    out = [
        "<h2>Labeling functions</h2>",
        html_table(
            [
                "LF",
                "kind",
                "version",
                "polarity",
                "coverage",
                "overlaps",
                "conflicts",
                "correct/incorrect",
                "empirical acc.",
                "learned acc.",
                "errors",
            ],
            body,
        ),
    ]
    top = rows[:HEATMAP_LFS]
    shown = f"the {len(top)} with the highest coverage" if len(rows) > len(top) else f"all {len(rows)}"
    out.append(f"<h3>Coverage and accuracy</h3><p>LFs: {shown}.</p>")
    out.append(
        lf_bars(
            [r["lf"] for r in top],
            [r["coverage"] or 0.0 for r in top],
            [r["empirical_accuracy"] for r in top],
            "LF coverage and empirical accuracy",
        )
    )
    out.append(conflict_heatmap(settings, dataset, run_id, [r["lf"] for r in top]))
    return "".join(out)


def conflict_heatmap(settings: Settings, dataset: str, run_id: str, lfs: list[str]) -> str:
    """Pairwise LF conflicts from the pattern counts the run's label model read."""
    from jobs.patterns.vote_patterns import pattern_matrix

    counts_ref = table(settings, dataset, "pattern_counts")
    found = label_model_row(settings, dataset, run_id) if counts_ref.exists() and len(lfs) >= 2 else None
    if found is None:
        return ""
    counted = DeltaTable(str(counts_ref.path), version=int(found["pattern_counts_version"])).to_pyarrow_table()
    counted = counted.to_pydict()
    # Patterns name every LF the model read; the matrix is built over all of them, then cut to ``lfs``.
    every = list(found["lf_names"])
    shown = [every.index(name) for name in lfs if name in every]
    lfs = [every[j] for j in shown]
    L = pattern_matrix(counted["pattern"], every).astype(np.int32)[:, shown]
    n = np.asarray(counted["count"], dtype=np.int64)
    voted = L != -1
    both = (voted[:, :, None] & voted[:, None, :]).astype(np.int64)
    differ = both * (L[:, :, None] != L[:, None, :])
    overlap = np.einsum("p,pij->ij", n, both)
    conflict = np.einsum("p,pij->ij", n, differ)
    values = [
        [None if i == j or overlap[i, j] == 0 else float(conflict[i, j] / overlap[i, j]) for j in range(len(lfs))]
        for i in range(len(lfs))
    ]
    pairs = sorted(
        ((int(conflict[i, j]), int(overlap[i, j]), lfs[i], lfs[j]) for i in range(len(lfs)) for j in range(i)),
        reverse=True,
    )
    top = [
        [f"{a} x {b}", f"{both:,}", f"{differ:,}", f"{differ / both:.1%}"]
        for differ, both, a, b in pairs[:TOP_CONFLICTS]
        if differ
    ]
    return (
        "<h3>LF conflicts</h3><p>Share of the rows both LFs voted on where they disagree "
        f"(green 0, red 1, grey: never both voted); the {len(lfs)} LFs with the highest coverage.</p>"
        + heatmap(lfs, values, "Pairwise LF conflict rate")
        + f"<p>The {len(top)} pairs that disagree on the most rows:</p>"
        + html_table(["LF pair", "both voted", "disagreed", "rate"], top or [["-", "", "", ""]])
    )
