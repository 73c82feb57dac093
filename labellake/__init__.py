"""labellake's Python API for notebooks: ``labellake.try_lf`` (what ``labellake lf try`` prints, as a dict)."""

from jobs.lf_try.api import try_lf

__all__ = ["try_lf"]
