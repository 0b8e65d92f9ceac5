"""Rendering of the ASL files in statemachines/, shared by CDK and the local target."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

STATEMACHINES_DIR = Path(__file__).resolve().parent.parent / "statemachines"
# `${Name}` only: `$$.Task.Token` and JSONPath `$.x` never match.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class AslSubstitutionError(ValueError):
    """A substitution map does not match the placeholders of an ASL document."""


def asl_path(name: str) -> Path:
    """Path of `statemachines/<name>.asl.json`."""
    return STATEMACHINES_DIR / f"{name}.asl.json"


def placeholders(definition: str) -> set[str]:
    """Names of the `${Name}` placeholders in an ASL document."""
    return set(_PLACEHOLDER.findall(definition))


def check_substitutions(definition: str, substitutions: Mapping[str, object]) -> None:
    """Fail unless `substitutions` names exactly the placeholders of `definition`."""
    wanted = placeholders(definition)
    missing = sorted(wanted - substitutions.keys())
    unused = sorted(substitutions.keys() - wanted)
    if missing or unused:
        raise AslSubstitutionError(f"ASL placeholders missing a value: {missing}; values with no placeholder: {unused}")


def render_asl(definition: str, substitutions: Mapping[str, str]) -> str:
    """Fill every `${Name}` placeholder, failing on an unknown or unused key."""
    check_substitutions(definition, substitutions)
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], definition)
