"""The registry: model specs, versions, aliases and the audit trail in DynamoDB; the register and promote steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.registry.audit_export import audit_exports, export_audit, exported_records
    from mlcore.registry.card import model_card, render_model_card
    from mlcore.registry.events import SOURCE, publish_events, registry_events
    from mlcore.registry.records import (
        CHALLENGER,
        CHAMPION,
        STATUS_CHANGES,
        AliasRecord,
        AuditRecord,
        BatchUsage,
        ModelVersion,
        MonitorState,
        RolloutMode,
        RunRecord,
        RunStatus,
        SpecProposal,
        SpecRecord,
        StepTime,
        VersionStatus,
        ViewRecord,
        no_fallback,
        utc_now,
    )
    from mlcore.registry.steps import (
        APPROVAL_TIMEOUT,
        PIPELINE,
        promote_version,
        read_candidate,
        register_candidate,
        request_decision,
    )
    from mlcore.registry.table import Registry, cancellation_reasons, create_registry_table

__all__, __getattr__, __dir__ = surface(__name__, __file__)
