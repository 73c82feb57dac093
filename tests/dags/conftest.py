"""Airflow reads its configuration when first imported: point it at a throwaway home first."""

from __future__ import annotations

import os
import tempfile

from jobs.core.settings import PROJECT_ROOT

_HOME = tempfile.mkdtemp(prefix="labellake-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME}/airflow.db")
