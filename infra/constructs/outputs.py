"""Stack outputs, named by the catalog (`mlcore.catalog.OUTPUTS`): how the CLI finds a deployment."""

from __future__ import annotations

from aws_cdk import CfnOutput
from constructs import Construct

from mlcore.catalog import OUTPUTS


def add_output(scope: Construct, resource: str, value: str) -> CfnOutput:
    """The output that names `resource` (e.g. `registry_table`), with the catalog's key and description."""
    output = next(o for o in OUTPUTS if o.resource == resource)
    return CfnOutput(scope, output.key, value=value, description=output.description)
