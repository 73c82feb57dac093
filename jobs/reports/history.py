"""The labels table's past, for analysts: every published version and what changed between two.

Both read Delta time travel (delta-rs) and aggregate with DuckDB over Arrow
datasets, so no copy of an old labeling is ever kept and no row reaches
Python except the few sample ids a diff shows. Each published version's commit
carries the run's lineage (run id, trigger, LF versions, label model, source
version), which is what ``history`` reads.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import duckdb
from deltalake import DeltaTable

from jobs.core.errors import LabellakeError
from jobs.core.settings import Settings, run_report_file
from jobs.lake.tables import require_table, table

UNLABELED = "-1 (unlabeled)"
ABSENT = "(absent)"


def _labels_table(settings: Settings, dataset: str) -> DeltaTable:
    return DeltaTable(str(require_table(settings, dataset, "labels").path))


def _distribution(path: str, version: int) -> dict[str, int]:
    con = duckdb.connect()
    con.register("labels", DeltaTable(path, version=version).to_pyarrow_dataset())
    return {
        (name if name is not None else UNLABELED): int(n)
        for name, n in con.execute(
            "SELECT label_name, count(*) FROM labels GROUP BY label_name ORDER BY label_name NULLS LAST"
        ).fetchall()
    }


def lf_changes(old: dict[str, str] | None, new: dict[str, str] | None) -> dict[str, list[str]]:
    """LFs added, removed and changed (by version) between two LF version maps."""
    old, new = old or {}, new or {}
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(n for n in set(old) & set(new) if old[n] != new[n]),
    }


def labels_history(settings: Settings, dataset: str, limit: int = 20) -> list[dict[str, Any]]:
    """Published versions, newest first: run, trigger, LF changes since the previous version, distribution."""
    dt = _labels_table(settings, dataset)
    commits = sorted(dt.history(), key=lambda c: c["version"])
    out: list[dict[str, Any]] = []
    previous_lfs: dict[str, str] | None = None
    for commit in commits:
        meta = json.loads(commit["userMetadata"]) if commit.get("userMetadata") else {}
        lfs = meta.get("lf_versions")
        out.append(
            {
                "version": int(commit["version"]),
                "timestamp": _iso(commit.get("timestamp")),
                "operation": commit.get("operation"),
                "run_id": meta.get("run_id"),
                "trigger": meta.get("trigger"),
                "dag_id": meta.get("dag_id") or None,
                "source_version": meta.get("source_version"),
                "lf_set_version": meta.get("lf_set_version"),
                "label_model": meta.get("label_model"),
                "lf_changes": lf_changes(previous_lfs, lfs) if previous_lfs is not None and lfs is not None else None,
                "rows": (commit.get("operationMetrics") or {}).get("numOutputRows") or meta.get("rows"),
            }
        )
        if lfs is not None:
            previous_lfs = lfs
    out = out[::-1][:limit]
    runs = _run_records(settings, dataset)
    for entry in out:  # one aggregate per shown version, by time travel
        entry["distribution"] = _distribution(str(dt.table_uri), entry["version"])
        record = runs.get(entry["run_id"] or "", {})
        docs = json.loads(record.get("data_docs") or "null") or {}
        if isinstance(docs, list):  # a failed run's record before it kept the {index, pages} shape
            docs = {"pages": docs}
        entry["data_docs"] = docs.get("pages") or ([docs["index"]] if docs.get("index") else [])
        entry["warnings"] = [w["check"] for w in json.loads(record.get("warnings") or "[]")]
        report = run_report_file(settings.home, dataset, entry["run_id"]) if entry["run_id"] else None
        entry["report"] = str(report) if report and report.exists() else None
    return out


def _run_records(settings: Settings, dataset: str) -> dict[str, dict[str, Any]]:
    """The runs table's rows of ``dataset`` by run id (Data Docs links and warnings for history)."""
    from jobs.lake.tables import runs_table

    ref = runs_table(settings)
    if not ref.exists():
        return {}
    con = duckdb.connect()
    con.register("runs", DeltaTable(str(ref.path)).to_pyarrow_dataset())
    columns = {f.name for f in DeltaTable(str(ref.path)).schema().fields}
    wanted = [c for c in ("run_id", "status", "data_docs", "warnings") if c in columns]
    rows = con.execute(f"SELECT {', '.join(wanted)} FROM runs WHERE dataset = ?", [dataset]).fetchall()
    return {row[0]: dict(zip(wanted, row, strict=True)) for row in rows}


def _iso(timestamp: Any) -> Any:
    """delta-rs gives commit times as epoch milliseconds; people read ISO times."""
    from datetime import datetime

    if isinstance(timestamp, (int, float)):
        return datetime.fromtimestamp(timestamp / 1000, tz=UTC).isoformat(timespec="seconds")
    return timestamp


def format_history(entries: list[dict[str, Any]]) -> str:
    lines = []
    for e in entries:
        changes = e["lf_changes"]
        if changes is None:
            lf_text = "first labeling" if e["run_id"] else "-"
        else:
            lf_text = (
                ", ".join(f"{kind} {', '.join(names)}" for kind, names in changes.items() if names) or "no LF change"
            )
        dist = ", ".join(f"{k}={v}" for k, v in e["distribution"].items())
        lines.append(
            f"v{e['version']:<4} {str(e['timestamp'])[:19]:<19}  run={e['run_id']}  trigger={e['trigger']}  "
            f"model={e['label_model']}  source=v{e['source_version']}"
        )
        lines.append(f"      LFs: {lf_text}")
        lines.append(f"      labels: {dist}")
        if e.get("warnings"):
            lines.append(f"      warnings: {', '.join(e['warnings'])}")
        if e.get("report"):
            lines.append(f"      report: {e['report']}")
        for page in e.get("data_docs") or []:
            lines.append(f"      Data Docs: {page}")
    return "\n".join(lines)


def labels_diff(settings: Settings, dataset: str, v_from: int, v_to: int, samples: int = 5) -> dict[str, Any]:
    """How the labeling changed from version ``v_from`` to ``v_to`` of the labels table.

    Returns row counts, how many ids changed label (a row added or removed
    counts as a change, shown as ``(absent)``), the transition table (old label
    -> new label -> rows) and up to ``samples`` ids per transition.
    """
    dt = _labels_table(settings, dataset)
    newest = dt.version()
    for v in (v_from, v_to):
        if not 0 <= v <= newest:
            raise LabellakeError(f"{table(settings, dataset, 'labels').name} has versions 0..{newest}, not {v}")
    con = duckdb.connect()
    con.register("a", DeltaTable(str(dt.table_uri), version=v_from).to_pyarrow_dataset())
    con.register("b", DeltaTable(str(dt.table_uri), version=v_to).to_pyarrow_dataset())

    def name(side: str) -> str:
        return f"CASE WHEN {side}.id IS NULL THEN '{ABSENT}' ELSE coalesce({side}.label_name, '{UNLABELED}') END"

    con.execute(f"""
        CREATE TEMP VIEW joined AS
        SELECT coalesce(a.id, b.id) AS id, {name("a")} AS old, {name("b")} AS new
        FROM (SELECT id, label_name FROM a) a FULL OUTER JOIN (SELECT id, label_name FROM b) b USING (id)
    """)
    transitions = [
        {"from": old, "to": new, "rows": int(n), "sample_ids": list(ids)}
        for old, new, n, ids in con.execute(f"""
            SELECT old, new, count(*) AS n, list(id ORDER BY id)[1:{int(samples)}]
            FROM joined GROUP BY old, new ORDER BY n DESC, old, new""").fetchall()
    ]
    rows_from = con.execute("SELECT count(*) FROM a").fetchone()[0]
    rows_to = con.execute("SELECT count(*) FROM b").fetchone()[0]
    changed = sum(t["rows"] for t in transitions if t["from"] != t["to"])
    return {
        "dataset": dataset,
        "table": table(settings, dataset, "labels").name,
        "from_version": v_from,
        "to_version": v_to,
        "rows_from": int(rows_from),
        "rows_to": int(rows_to),
        "changed": changed,
        "unchanged": sum(t["rows"] for t in transitions if t["from"] == t["to"]),
        "transitions": transitions,
    }


def format_diff(diff: dict[str, Any]) -> str:
    lines = [
        f"{diff['table']}: v{diff['from_version']} ({diff['rows_from']} rows) -> v{diff['to_version']} "
        f"({diff['rows_to']} rows): {diff['changed']} ids changed label, {diff['unchanged']} unchanged",
        f"{'from':<18} {'to':<18} {'rows':>9}  sample ids",
    ]
    for t in diff["transitions"]:
        ids = ", ".join(map(str, t["sample_ids"])) if t["from"] != t["to"] else "(unchanged)"
        lines.append(f"{t['from']:<18} {t['to']:<18} {t['rows']:>9}  {ids}")
    return "\n".join(lines)
