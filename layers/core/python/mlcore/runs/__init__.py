"""Runs: what became of each execution of a pipeline: its record, its export, the words of a failed step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.runs.export import COLUMNS, RUNS_TABLE, export_runs, row
    from mlcore.runs.failures import describe_failure, report_failure, write_job_failure
    from mlcore.runs.in_flight import runs_in_flight
    from mlcore.runs.recorder import (
        NOTHING_NEW,
        batch_usage,
        build_record,
        execution_history,
        record_run,
        step_times,
    )

__all__, __getattr__, __dir__ = surface(__name__, __file__)
