"""Runs: what became of each execution of a pipeline; for now, the words of a failed step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.runs.failures import describe_failure, report_failure, write_job_failure

__all__, __getattr__, __dir__ = surface(__name__, __file__)
