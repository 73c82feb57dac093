"""A DAG run under an Airflow without the ``spark_default`` connection fails its first Spark stage at
once, saying what to set, instead of the provider's silent fallback to YARN (issue 32)."""

from __future__ import annotations

import pytest

from jobs.core.errors import SetupError


def test_a_missing_spark_connection_is_an_error_that_says_what_to_set(monkeypatch) -> None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from dags.relabel_chain import require_connection

    def missing(conn_id: str) -> None:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(BaseHook, "get_connection", staticmethod(missing))
    with pytest.raises(SetupError, match="no Airflow connection 'spark_default': set AIRFLOW_CONN_SPARK_DEFAULT"):
        require_connection("spark_default")
    monkeypatch.setattr(BaseHook, "get_connection", staticmethod(lambda conn_id: object()))
    require_connection("spark_default")  # present: nothing to say
