"""What a person wants to know after a run, read without Spark (delta-rs + DuckDB).

DuckDB scans the Delta tables as Arrow datasets and aggregates them in
streaming fashion, so a summary of a 10M-row labels table needs no JVM and
never loads the rows into Python.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from jobs.core.errors import LabellakeError
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, existing_tables, require_table, table


def _dataset(ref: TableRef, version: int | None = None) -> Any:
    dt = DeltaTable(str(ref.path), version=version) if version is not None else DeltaTable(str(ref.path))
    return dt.to_pyarrow_dataset()


def _gold_figures(con: Any, gold: TableRef, gold_where: str, with_end_model: bool) -> dict[str, Any]:
    """Accuracy of the labels (and of each model, with an end model) on the evaluation gold only
    (jobs/hand_labels/gold_set.py): adjudicated rows that trained or were published as gold are
    not scored, so the figure is not an echo of the gold itself."""
    con.register("gold_table", _dataset(gold))
    con.execute(f"CREATE VIEW gold AS SELECT id, label FROM gold_table WHERE {gold_where}")
    covered, correct, with_gold = con.execute(
        """SELECT count(*) FILTER (WHERE l.label >= 0),
                  count(*) FILTER (WHERE l.label >= 0 AND l.label = g.label),
                  count(*)
           FROM labels l JOIN gold g USING (id)"""
    ).fetchall()[0]
    figures: dict[str, Any] = {
        "table": gold.name,
        "rows_with_gold": int(with_gold),
        "labeled_with_gold": int(covered),
        "correct": int(correct),
        "accuracy": round(correct / covered, 4) if covered else None,
    }
    if with_end_model:
        label_model, end_model, end_model_rows = con.execute(
            """SELECT avg(CASE WHEN l.label_model_label >= 0 THEN (l.label_model_label = g.label)::INT END),
                      avg(CASE WHEN l.end_model_label >= 0 THEN (l.end_model_label = g.label)::INT END),
                      count(l._end_model)
               FROM labels l JOIN gold g USING (id)"""
        ).fetchall()[0]
        if end_model_rows:
            figures["label_model_accuracy"] = None if label_model is None else round(label_model, 4)
            figures["end_model_accuracy"] = None if end_model is None else round(end_model, 4)
    return figures


def labels_summary(settings: Settings, dataset: str, version: int | None = None) -> dict[str, Any]:
    """Path, version, row count, label distribution and accuracy against gold."""
    from jobs.core.datasets import get_dataset
    from jobs.hand_labels.gold_set import evaluation_gold_ref

    labels = require_table(settings, dataset, "labels")
    gold, gold_where = evaluation_gold_ref(settings, get_dataset(dataset, settings))
    dt = DeltaTable(str(labels.path))
    if version is not None:
        if not 0 <= version <= dt.version():
            raise LabellakeError(f"{labels.name} has versions 0 to {dt.version()}; there is no version {version}")
        dt = DeltaTable(str(labels.path), version=version)
    con = duckdb.connect()
    con.register("labels", dt.to_pyarrow_dataset())
    rows = con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
    distribution = {
        (name if name is not None else "unlabeled (-1)"): int(n)
        for name, n in con.execute(
            "SELECT label_name, count(*) FROM labels GROUP BY label_name ORDER BY label_name NULLS LAST"
        ).fetchall()
    }
    run_id = con.execute("SELECT any_value(_run_id) FROM labels").fetchall()[0][0]
    summary: dict[str, Any] = {
        "dataset": dataset,
        "table": labels.name,
        "path": str(labels.path),
        "version": dt.version(),
        "run_id": run_id,
        "rows": int(rows),
        "labeled": int(rows - distribution.get("unlabeled (-1)", 0)),
        "distribution": distribution,
    }
    votes = table(settings, dataset, "votes")
    if votes.exists():
        con.register("votes", _dataset(votes))
        summary["covered"] = int(con.execute("SELECT count(DISTINCT id) FROM votes").fetchall()[0][0])
    columns = {f.name for f in dt.schema().fields}
    if "_label_source" in columns:
        summary["label_sources"] = dict(
            con.execute("SELECT _label_source, count(*) FROM labels GROUP BY 1 ORDER BY 2 DESC").fetchall()
        )
    if gold.exists():
        summary["gold"] = _gold_figures(con, gold, gold_where, "end_model_label" in columns)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"labels table : {summary['table']} (version {summary['version']}, run {summary['run_id']})",
        f"path         : {summary['path']}",
        f"rows         : {summary['rows']} ({summary['labeled']} labeled, "
        f"{summary['rows'] - summary['labeled']} without a label)",
        f"LF coverage  : {summary.get('covered', 'n/a')} rows have at least one LF vote",
        "distribution : " + ", ".join(f"{k}={v}" for k, v in summary["distribution"].items()),
    ]
    gold = summary.get("gold")
    if gold:
        acc = "n/a" if gold["accuracy"] is None else f"{gold['accuracy']:.1%}"
        lines.append(
            f"vs gold      : {gold['correct']}/{gold['labeled_with_gold']} labeled rows correct "
            f"({acc}); {gold['rows_with_gold']} rows have gold ({gold['table']})"
        )
        if "end_model_accuracy" in gold:
            lines.append(
                f"               label model alone {gold['label_model_accuracy']}, "
                f"end model alone {gold['end_model_accuracy']} (where each labels)"
            )
    if summary.get("label_sources"):
        lines.append("label source : " + ", ".join(f"{k}={v}" for k, v in summary["label_sources"].items()))
    return "\n".join(lines)


def tables_listing(settings: Settings) -> list[dict[str, Any]]:
    """Every table with name, dataset, role, path, version and row count (from the Delta log)."""
    listing = []
    for ref in existing_tables(settings):
        dt = DeltaTable(str(ref.path))
        actions = pa.table(dt.get_add_actions(flatten=True))
        rows = sum(int(n) for n in actions.column("num_records").to_pylist() if n is not None)
        listing.append(
            {
                "name": ref.name,
                "dataset": ref.dataset,
                "role": ref.role,
                "path": str(ref.path),
                "version": dt.version(),
                "rows": rows,
            }
        )
    return listing


def history(settings: Settings, dataset: str, role: str = "labels") -> list[dict[str, Any]]:
    """Commit history of a table, newest first, with the run id from each commit."""
    import json

    ref = require_table(settings, dataset, role)
    out = []
    for commit in DeltaTable(str(ref.path)).history():
        meta = commit.get("userMetadata")
        parsed = json.loads(meta) if meta else {}
        out.append(
            {
                "version": commit.get("version"),
                "timestamp": commit.get("timestamp"),
                "operation": commit.get("operation"),
                "run_id": parsed.get("run_id"),
                "rows": (commit.get("operationMetrics") or {}).get("numOutputRows") or parsed.get("rows"),
            }
        )
    return out


def lf_analysis(settings: Settings, dataset: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """The LF table of a run (the newest by default), in pack order of coverage."""
    import json

    ref = require_table(settings, dataset, "lf_analysis")
    dt = DeltaTable(str(ref.path))
    if run_id is None:
        meta = dt.history(1)[0].get("userMetadata")
        run_id = json.loads(meta)["run_id"] if meta else None
    con = duckdb.connect()
    con.register("lfa", dt.to_pyarrow_dataset())
    cursor = con.execute("SELECT * FROM lfa WHERE _run_id = ? ORDER BY coverage DESC, lf", [run_id])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    learned = learned_accuracies(settings, dataset, run_id)
    for row in rows:
        row["label_model"], row["learned_accuracy"] = learned.get("model_id"), learned.get("by_lf", {}).get(row["lf"])
    return rows


def learned_accuracies(settings: Settings, dataset: str, run_id: str | None) -> dict[str, Any]:
    """The run's fitted label model id and its learned per-LF accuracies (if the model has them)."""
    ref = table(settings, dataset, "label_models")
    if run_id is None or not ref.exists():
        return {}
    con = duckdb.connect()
    con.register("lm", DeltaTable(str(ref.path)).to_pyarrow_dataset())
    found = con.execute("SELECT model_id, lf_names, lf_accuracies FROM lm WHERE _run_id = ?", [run_id]).fetchone()
    if found is None:
        return {}
    model_id, names, accuracies = found
    return {"model_id": model_id, "by_lf": dict(zip(names, accuracies, strict=True)) if accuracies is not None else {}}


def format_lf_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'lf':<34} {'polarity':<9} {'coverage':>8} {'overlaps':>8} {'conflicts':>9} "
        f"{'correct':>7} {'incorrect':>9} {'emp.acc':>7} {'learned':>7} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        acc = "" if r["empirical_accuracy"] is None else f"{r['empirical_accuracy']:.3f}"
        learned = "" if r.get("learned_accuracy") is None else f"{r['learned_accuracy']:.3f}"
        lines.append(
            f"{r['lf'][:34]:<34} {','.join(map(str, r['polarity'] or [])):<9} {r['coverage']:>8.3f} "
            f"{r['overlaps']:>8.3f} {r['conflicts']:>9.3f} {r['correct']:>7} {r['incorrect']:>9} "
            f"{acc:>7} {learned:>7} {r['errors']:>6}"
        )
    if rows and rows[0].get("label_model"):
        if any(r.get("learned_accuracy") is not None for r in rows):
            lines.append(f"learned: the per-LF accuracy fitted by {rows[0]['label_model']} (no gold used)")
        else:
            lines.append(f"label model: {rows[0]['label_model']} (learns no per-LF accuracies)")
    return "\n".join(lines)
