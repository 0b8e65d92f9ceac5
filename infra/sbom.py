"""A CycloneDX SBOM of an installed Python package set: each Lambda layer's, and the training image's.

Standard library only (the training image has no CDK): `python -m infra.sbom SITE_PACKAGES NAME` prints
the SBOM of what is installed under SITE_PACKAGES (its *.dist-info).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SBOM_FILE = "sbom.cdx.json"  # at a layer's root (/opt in Lambda), and in the image's /app


def _metadata(dist_info: Path) -> dict[str, str]:
    """The Name and Version of an installed distribution (its METADATA's headers)."""
    found: dict[str, str] = {}
    for line in (dist_info / "METADATA").read_text(errors="replace").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, _, value = line.partition(":")
        if key in ("Name", "Version") and key not in found:
            found[key] = value.strip()
    return found


def cyclonedx_sbom(installed: Path, name: str, own: tuple[str, ...] = ()) -> dict[str, Any]:
    """A CycloneDX 1.5 SBOM: every distribution installed under `installed` (its *.dist-info) with its package
    URL, and this project's own packages (`own`) at its version."""
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    components = []
    for dist_info in sorted(installed.glob("*.dist-info")):
        meta = _metadata(dist_info)
        package, release = meta.get("Name", dist_info.name), meta.get("Version", "")
        purl = f"pkg:pypi/{re.sub(r'[-_.]+', '-', package).lower()}@{release}"
        components.append({"type": "library", "name": package, "version": release, "purl": purl})
    components += [
        {"type": "library", "name": package, "version": version, "description": "this project's own code"}
        for package in own
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "library", "name": name, "version": version}},
        "components": components,
    }


def main() -> None:
    site_packages, name = Path(sys.argv[1]), sys.argv[2]
    own = tuple(sys.argv[3:])
    print(json.dumps(cyclonedx_sbom(site_packages, name, own), indent=2))


if __name__ == "__main__":
    main()
