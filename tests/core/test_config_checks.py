"""The datasets config is checked whole, per dataset, before Spark starts (issue 29, items 8, 9, 16).

No Spark here: each case is a crafted TOML file.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import pytest

from jobs.core.datasets import get_dataset, load_valid_datasets
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from tests.conftest import YOUTUBE, write_config


def _settings(tmp_path: Path, entries: dict[str, dict]) -> Settings:
    return dataclasses.replace(Settings.from_env(), config_path=write_config(tmp_path / "datasets.toml", entries))


def _expectations(**overrides: object) -> dict:
    return {**YOUTUBE, "expectations": {**YOUTUBE["expectations"], **overrides}}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_expectations(min_coverage=1.5), "expectations.min_coverage must be [0, 1], got 1.5"),
        (_expectations(min_coverage=-3), "expectations.min_coverage must be [0, 1]"),
        (_expectations(class_share={"HAM": [0.9, 0.1]}), "class_share.HAM has min 0.9 above max 0.1"),
        (_expectations(max_kl_divergence=-0.1), "expectations.max_kl_divergence must be >= 0"),
        (_expectations(max_null_share=-0.5), "expectations.max_null_share must be [0, 1]"),
        (_expectations(min_row_ratio=2.0, max_row_ratio=1.0), "min_row_ratio 2 is above max_row_ratio 1"),
        (_expectations(min_coverage="high"), "expectations.min_coverage must be a number, got 'high'"),
        (_expectations(min_covrage=0.5), "unknown expectations keys ['min_covrage']"),
        ({**YOUTUBE, "max_lf_error_rate": 7}, "max_lf_error_rate must be [0, 1], got 7"),
        ({**YOUTUBE, "max_lf_error_rate": -1}, "max_lf_error_rate must be [0, 1], got -1"),
        ({**YOUTUBE, "class_balance": {"HAM": 5, "SPAM": -4}}, "class_balance.HAM must be [0, 1], got 5"),
        ({**YOUTUBE, "class_balance": {"HAM": 0.5, "SPAM": 0.2}}, "summing to 1"),
        ({**YOUTUBE, "text_colum": "CONTENT"}, "unknown keys ['text_colum']"),
        ({**YOUTUBE, "read_options": {"encoding": "utf-42"}}, "read_options.encoding 'utf-42' is not a known encoding"),
        (_expectations(severity={"sourc_row_count": "warning"}), "expectations.severity: unknown check 'sourc_row"),
        (_expectations(severity={"class_share_max[SPM]": "warning"}), "'SPM' is not one of the classes"),
        (_expectations(severity={"drift_kl[SPAM]": "warning"}), "only class_share_min and class_share_max take"),
    ],
)
def test_impossible_or_misspelled_settings_name_the_file_dataset_and_key(
    tmp_path: Path, entry: dict, message: str
) -> None:
    settings = _settings(tmp_path, {"youtube_spam": entry})
    with pytest.raises(ConfigError) as raised:
        get_dataset("youtube_spam", settings)
    text = str(raised.value)
    assert message in text and "youtube_spam" in text and str(settings.config_path) in text


def test_one_broken_dataset_does_not_refuse_the_others(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"good": YOUTUBE, "broken": _expectations(min_coverage=9)})
    assert get_dataset("good", settings).name == "good"
    with pytest.raises(ConfigError, match="'broken'"):
        get_dataset("broken", settings)
    valid, broken = load_valid_datasets(settings.config_path)
    assert set(valid) == {"good"} and "min_coverage" in broken["broken"]


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "datasets.toml"
    path.write_text('[datasets.x]\nsource_path = "a.csv\n')
    settings = dataclasses.replace(Settings.from_env(), config_path=path)
    with pytest.raises(ConfigError, match=f"{path}: TOML syntax error"):
        get_dataset("x", settings)


def _refused_run_errors(settings: Settings, tmp_path: Path, monkeypatch, caplog) -> list[str]:
    """``labellake run`` on ``settings``' config: it must exit 2 in under 2 s; its ERROR lines."""
    from jobs.cli.main import main

    monkeypatch.setenv("LABELLAKE_CONFIG", str(settings.config_path))
    monkeypatch.setenv("LABELLAKE_HOME", str(tmp_path / "lake"))
    started = time.monotonic()
    assert main(["run", "--dataset", "youtube_spam"]) == 2
    assert time.monotonic() - started < 2.0
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_cli_run_reports_a_config_error_in_one_line_before_spark_starts(tmp_path: Path, monkeypatch, caplog) -> None:
    settings = _settings(tmp_path, {"youtube_spam": _expectations(min_coverage=1.5)})
    errors = _refused_run_errors(settings, tmp_path, monkeypatch, caplog)
    assert any("ConfigError" in e and "min_coverage" in e and "\n" not in e for e in errors)
    assert not (tmp_path / "lake").exists()


def test_a_source_path_that_matches_no_file_is_refused_before_spark_starts(tmp_path: Path, monkeypatch, caplog) -> None:
    settings = _settings(tmp_path, {"youtube_spam": {**YOUTUBE, "source_path": "youtube_spam/*.tsv"}})
    errors = _refused_run_errors(settings, tmp_path, monkeypatch, caplog)
    assert len(errors) == 1 and "dataset 'youtube_spam': no source files match" in errors[0] and ".tsv" in errors[0]
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("module_text", "names"),
    [
        ("raise RuntimeError('lexicon file missing')\n", ["RuntimeError", "lexicon file missing", "broken_pack.py:1"]),
        (
            "def build_pack():\n    return {}['keywords']\n",
            ["KeyError", "'keywords'", "broken_pack.py:2"],
        ),
        ("import no_such_module_anywhere\n", ["ModuleNotFoundError", "no_such_module_anywhere"]),
        ("def build_pack():\n    return 42\n", ["built a int, not an LFPack"]),
        (
            "from lf_library import LFPack\ndef build_pack():\n    return LFPack('p', ('HAM', 'SPAM'), [])\n",
            ["has no LFs"],
        ),
        (
            "from lf_library import KeywordLF, LFPack\ndef build_pack():\n"
            "    return LFPack('p', ('NEG', 'POS'), [KeywordLF('k', 'POS', keywords=('x',))])\n",
            ["has classes ('NEG', 'POS'), the dataset declares ('HAM', 'SPAM')"],
        ),
    ],
    ids=["raises-at-import", "build-raises", "missing-import", "not-a-pack", "no-lfs", "other-classes"],
)
def test_a_broken_lf_pack_is_one_line_naming_it_before_spark_starts(
    tmp_path: Path, monkeypatch, caplog, module_text: str, names: list[str]
) -> None:
    """Issue 29 item 16: a team's pack that raises (at import or in build_pack) is a ConfigError naming
    the pack, the exception and the pack's line, in one line, exit 2, before Spark or the lakehouse."""
    (tmp_path / "broken_pack.py").write_text(module_text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "broken_pack", raising=False)  # each case imports its own file
    settings = _settings(tmp_path, {"youtube_spam": {**YOUTUBE, "lf_pack": "broken_pack:build_pack"}})
    errors = _refused_run_errors(settings, tmp_path, monkeypatch, caplog)
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert "ConfigError" in errors[0] and ("'broken_pack:build_pack'" in errors[0] or "has classes" in errors[0])
    assert all(name in errors[0] for name in names), errors[0]
    assert not (tmp_path / "lake").exists()
