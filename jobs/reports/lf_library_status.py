"""Has a dataset's LF library changed since its labels were last published?

This is what decides an ``lf-change`` rerun (``dags/lf_change_relabel.py``):
the LF set version of the library as deployed now against the
``lf_set_version`` recorded in the newest labels commit. It runs in an Airflow
worker every few minutes, so it reads only the Delta log (delta-rs, no Spark,
no data files) and imports the LF pack, nothing else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from jobs.core.datasets import get_dataset
from jobs.core.settings import Settings
from jobs.lake.tables import table


@dataclass(frozen=True)
class LFLibraryStatus:
    """The deployed LF library of one dataset against its published labels."""

    dataset: str
    lf_set_version: str
    published_lf_set_version: str | None
    """``None``: nothing published yet (a first run is the nightly's job, not an LF change)."""
    labels_version: int | None
    lf_changes: dict[str, str] = field(default_factory=dict)
    """``{lf: "new" | "changed <old> -> <new>" | "removed"}`` against the published labels."""

    @property
    def changed(self) -> bool:
        return self.published_lf_set_version is not None and self.lf_set_version != self.published_lf_set_version

    def record(self) -> dict[str, Any]:
        return asdict(self) | {"changed": self.changed}


def published_lineage(settings: Settings, dataset: str) -> tuple[int | None, dict[str, Any]]:
    """(version, lineage) of the newest labels commit, from its ``userMetadata``; (None, {}) if none."""
    from deltalake import DeltaTable

    ref = table(settings, dataset, "labels")
    if not ref.exists():
        return None, {}
    labels = DeltaTable(str(ref.path))
    newest = labels.history(1)[0]
    raw = newest.get("userMetadata")
    return int(labels.version()), (json.loads(raw) if raw else {})


def lf_library_status(settings: Settings, dataset: str) -> LFLibraryStatus:
    """Compare the LF pack configured for ``dataset`` with what produced its published labels."""
    from lf_library.packs import load_pack

    pack = load_pack(get_dataset(dataset, settings).lf_pack)
    version, lineage = published_lineage(settings, dataset)
    published: dict[str, str] = dict(lineage.get("lf_versions") or {})
    current = pack.versions
    changes = {name: "new" for name in current if name not in published}
    changes |= {
        name: f"changed {published[name]} -> {v}"
        for name, v in current.items()
        if name in published and published[name] != v
    }
    changes |= {name: "removed" for name in published if name not in current}
    return LFLibraryStatus(
        dataset=dataset,
        lf_set_version=pack.set_version,
        published_lf_set_version=lineage.get("lf_set_version"),
        labels_version=version,
        lf_changes=dict(sorted(changes.items())),
    )
