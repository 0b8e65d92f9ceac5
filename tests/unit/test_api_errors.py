"""What the CLI makes of the API's errors: API Gateway's refusal of a governance route names the policy it needs."""

from __future__ import annotations

import pytest

from infra.operations import _with_policy, api_error
from mlcore.catalog import PREDICT_ROUTE, ROLLBACK_ROUTE, Route
from mlcore.errors import ForbiddenError


def refusal(message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": "forbidden", "message": message}}


def test_the_gateways_refusal_of_a_governance_route_names_the_managed_policy_that_grants_it() -> None:
    error = _with_policy(api_error(refusal("the caller may not call this route"), 403), ROLLBACK_ROUTE, "churn")
    assert isinstance(error, ForbiddenError)
    assert error.message == (
        "the caller may not call this route: POST /models/{name}/aliases/{alias}/rollback needs the ModelPromoter "
        "managed policy attached to the caller (the serving stack's ModelPromoterPolicyArn output; or "
        "<prefix>-ModelPromoter-churn, if 'churn' is in mlops:governedModels)"
    )


@pytest.mark.parametrize(
    ("message", "route"),
    [
        # the registry's own refusal says why itself (separation of duties)
        ("alice proposed this change: another approver must apply it", ROLLBACK_ROUTE),
        ("the request's signature does not match", ROLLBACK_ROUTE),
        ("the caller may not call this route", PREDICT_ROUTE),  # a client route: no managed policy grants it
    ],
)
def test_another_refusal_is_told_as_it_is(message: str, route: Route) -> None:
    error = _with_policy(api_error(refusal(message), 403), route, "churn")
    assert error.message == message
