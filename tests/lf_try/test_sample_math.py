"""The try-loop's sample arithmetic: quotas per stratum and the weights that give the table's counts."""

from __future__ import annotations

import numpy as np

from jobs.lf_try.figures import SampleVotes, table_weights
from jobs.lf_try.sample import stratum_quotas


def test_quotas_are_proportional_add_up_and_keep_every_row_of_a_small_table() -> None:
    strata = {"-1|False": 601_542, "0|False": 295_985, "1|False": 102_473, "1|True": 3}
    quotas = stratum_quotas(strata, 100_000)
    assert sum(quotas.values()) == 100_000
    assert all(abs(quotas[s] - n * 100_000 / sum(strata.values())) < 1 for s, n in strata.items())
    assert stratum_quotas({"a": 10, "b": 5}, 100) == {"a": 10, "b": 5}


def test_weights_make_each_patterns_sample_rows_add_up_to_the_tables_count() -> None:
    L = np.array([[0, -1], [0, -1], [-1, 1], [0, -1], [-1, -1]], dtype=np.int16)
    table_rows = np.array([300, 300, 40, 300, 1000])  # the table's rows with each row's pattern
    sample = SampleVotes(L, ["a", "b"], np.full(5, -1), np.zeros(5, bool), np.full(5, -1))
    weights = table_weights(sample, 2, table_rows)
    assert weights.tolist() == [100.0, 100.0, 40.0, 100.0, 1000.0]
