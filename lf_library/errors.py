"""The LF library's own error: an LF or pack that cannot be used, named with what is wrong."""

from __future__ import annotations

from jobs.core.errors import LabellakeError


class LFDefinitionError(LabellakeError):
    """An LF or LF pack is malformed (bad name, duplicate name, bad label)."""
