"""Serving safety on the local target: API keys, verified artifacts, canary and shadow rollouts, feedback."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
from e2e_helpers import Cli

from infra.local.demo import DemoResult
from infra.local.example_data import churn_instances
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.catalog import CAPTURE
from mlcore.data import read_parquet_window
from mlcore.registry import CHALLENGER, RolloutMode
from mlcore.storage import ObjectStore, S3Uri

pytestmark = pytest.mark.e2e


@pytest.fixture
def no_alias_cache(target: LocalTarget, demo: DemoResult) -> Iterator[None]:
    """The predict function re-reads aliases on every request (ALIAS_TTL_SECONDS=0), in a fresh container."""
    function = target.deployment.function_by_folder("predict")
    saved = function.environment["ALIAS_TTL_SECONDS"]
    function.environment["ALIAS_TTL_SECONDS"] = "0"
    target.functions.shutdown()
    yield
    function.environment["ALIAS_TTL_SECONDS"] = saved
    target.functions.shutdown()


def post(platform: Platform, path: str, body: object, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        platform.resources.api_url + path, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_api_key_is_enforced_when_configured(target: LocalTarget, platform: Platform, demo: DemoResult) -> None:
    assert target.api is not None
    target.api.api_key = "s3cret"
    try:
        body = {"instances": churn_instances(1, seed=3)}
        for headers in ({}, {"x-api-key": "wrong"}):
            status, answer = post(platform, "/models/churn/predict", body, headers)
            assert (status, answer["error"]["code"]) == (403, "forbidden")
            assert answer["error"]["message"] == "the x-api-key header is missing or not a valid key"
            assert answer["error"]["field"] == "x-api-key"
            assert answer["error"]["request_id"]
        assert post(platform, "/models/churn/predict", body, {"x-api-key": "s3cret"})[0] == 200
    finally:
        target.api.api_key = None


def test_a_tampered_artifact_is_refused_and_the_previous_version_keeps_serving(
    target: LocalTarget, platform: Platform, no_alias_cache: None
) -> None:
    registry, champion = platform.registry, platform.registry.get_alias("churn")
    assert champion is not None and champion.version == 2
    v1 = registry.get_version("churn", 1)
    location = S3Uri.parse(v1.artifacts["model"].uri)
    original = platform.artifacts.get(location.key)
    assert platform.predict("churn", churn_instances(1, seed=4))[1]["model"]["version"] == 2  # v2 is loaded
    # GIVEN v1's model file is replaced in the bucket, WHEN the champion alias moves to v1
    platform.artifacts.put(location.key, original[:-10] + b"tampered!!")
    registry.set_alias("churn", "champion", 1, actor="e2e", reason="roll back to a tampered version")
    try:
        # THEN the function refuses to load it and v2 keeps answering
        status, body = platform.predict("churn", churn_instances(3, seed=5))
        assert (status, body["model"]["version"]) == (200, 2)
        # AND a container that never loaded a good version answers 503, naming the model
        target.functions.shutdown()
        status, body = platform.predict("churn", churn_instances(1, seed=6))
        assert status == 503
        assert body["error"]["code"] == "model_unavailable" and "churn" in body["error"]["message"]
    finally:
        platform.artifacts.put(location.key, original)
        registry.set_alias("churn", "champion", 2, actor="e2e", reason="restore")


def test_a_canary_routes_each_caller_to_a_stable_version(
    target: LocalTarget, platform: Platform, no_alias_cache: None, cli: Cli
) -> None:
    platform.registry.set_alias("churn", CHALLENGER, 1, actor="e2e", mode=RolloutMode.CANARY, weight=0.3)
    try:
        rows = churn_instances(1, seed=7)
        seen: dict[str, set[int]] = {}
        for caller in range(60):
            for _ in range(2):
                status, body = post(
                    platform, "/models/churn/predict", {"instances": rows}, {"x-routing-key": f"c{caller}"}
                )
                assert status == 200
                seen.setdefault(f"c{caller}", set()).add(body["model"]["version"])
        assert all(len(versions) == 1 for versions in seen.values())  # a caller always gets the same version
        share = sum(versions == {1} for versions in seen.values()) / len(seen)
        assert 0.1 < share < 0.5  # about the 30 % weight
        status, described = platform.call_api("GET", "/models/churn")
        assert described["challenger"] == {"version": 1, "mode": "canary", "weight": 0.3}
        # and a script reading the CLI sees the rollout too
        code, out, _ = cli("models", "list", "--output", "json")
        listed = next(row for row in json.loads(out) if row["model"] == "churn")
        assert (listed["challenger"], listed["rollout"]) == ("v1 (canary 30%)", described["challenger"])
        code, out, _ = cli("models", "show", "churn", "--output", "json")
        shown = json.loads(out)["challenger"]
        assert (code, shown["version"], shown["mode"], shown["weight"]) == (0, 1, "canary", 0.3)
    finally:
        platform.registry.remove_alias("churn", CHALLENGER, actor="e2e")


def test_shadow_mode_answers_with_the_champion_and_captures_both(
    target: LocalTarget, platform: Platform, no_alias_cache: None
) -> None:
    platform.registry.set_alias("churn", CHALLENGER, 1, actor="e2e", mode=RolloutMode.SHADOW)
    try:
        status, body = platform.predict("churn", churn_instances(20, seed=8))
        assert status == 200 and body["model"] == {"name": "churn", "version": 2}
        request_id = body["request_id"]
    finally:
        platform.registry.remove_alias("churn", CHALLENGER, actor="e2e")
    target.functions.shutdown()  # flush the capture
    capture = ObjectStore(platform.resources.capture_bucket, platform.client("s3"))
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    table = read_parquet_window(capture, CAPTURE, "churn", now - timedelta(hours=1), now).to_pylist()
    rows = [r for r in table if r["request_id"] == request_id]
    assert len(rows) == 20
    assert {r["shadow_version"] for r in rows} == {1} and {r["model_version"] for r in rows} == {2}
    assert all(r["shadow_prediction"] in ("yes", "no") for r in rows)


def test_feedback_is_stored_for_performance_monitoring(platform: Platform, demo: DemoResult) -> None:
    status, body = platform.predict("churn", churn_instances(2, seed=9))
    request_id = body["request_id"]
    status, stored = platform.call_api("POST", "/models/churn/feedback", {"request_id": request_id, "label": "yes"})
    assert (status, stored) == (200, {"accepted": 1, "model": "churn"})
    batch = {"feedback": [{"request_id": request_id, "row_index": 1, "label": "no"}]}
    assert platform.call_api("POST", "/models/churn/feedback", batch)[0] == 200
    status, error = platform.call_api("POST", "/models/churn/feedback", {"request_id": request_id, "label": "maybe"})
    assert status == 400 and error["error"]["field"] == "body.label"
    capture = ObjectStore(platform.resources.capture_bucket, platform.client("s3"))
    keys = capture.list_keys("feedback/model=churn/")
    labels = sorted(
        (r["row_index"], r["label"])
        for key in keys
        for r in pq.read_table(io.BytesIO(capture.get(key))).to_pylist()
        if r["request_id"] == request_id
    )
    assert labels == [(0, "yes"), (1, "no")]


def test_the_openapi_document_is_served(platform: Platform, demo: DemoResult) -> None:
    status, document = platform.call_api("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.") and "/models/{name}/predict" in document["paths"]
