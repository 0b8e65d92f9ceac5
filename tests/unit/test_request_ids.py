"""Request ids the API issues: signed for one model, checked in constant time, not forgeable without the secret."""

from __future__ import annotations

import pytest

from mlcore.serving import RequestIds

IDS = RequestIds(b"s" * 32)


def test_an_issued_id_is_recognized_for_its_model_only() -> None:
    issued = IDS.issue("c2f0a1d4-0000-4000-8000-000000000001", "churn")
    assert issued.startswith("c2f0a1d4-0000-4000-8000-000000000001.")
    assert IDS.issued(issued, "churn")
    assert not IDS.issued(issued, "fraud")  # another model's prediction


@pytest.mark.parametrize(
    "forged",
    [
        "c2f0a1d4-0000-4000-8000-000000000001",  # the gateway's id alone
        "c2f0a1d4-0000-4000-8000-000000000002.{mac}",  # another id with a copied mac
        "{id}.{mac}x",
        "{id}.",
        ".{mac}",
        "",
    ],
)
def test_an_id_the_api_did_not_issue_is_not_recognized(forged: str) -> None:
    issued = IDS.issue("c2f0a1d4-0000-4000-8000-000000000001", "churn")
    request_id, mac = issued.rsplit(".", 1)
    assert not IDS.issued(forged.format(id=request_id, mac=mac), "churn")


def test_a_flipped_character_of_the_mac_is_refused() -> None:
    issued = IDS.issue("r-1", "churn")
    last = issued[-1]
    assert not IDS.issued(issued[:-1] + ("A" if last != "A" else "B"), "churn")


def test_another_secret_issues_other_ids() -> None:
    assert not RequestIds(b"t" * 32).issued(IDS.issue("r-1", "churn"), "churn")


def test_the_secret_is_derived_from_a_kms_hmac_key_once() -> None:
    class Kms:
        calls: list[dict[str, object]] = []

        def generate_mac(self, **request: object) -> dict[str, object]:
            self.calls.append(request)
            return {"Mac": b"m" * 32}

    kms = Kms()
    derived = RequestIds.derived(kms, "key-1")
    assert kms.calls == [{"KeyId": "key-1", "Message": b"mlops request ids v1", "MacAlgorithm": "HMAC_SHA_256"}]
    assert derived.issue("r-1", "churn") == RequestIds(b"m" * 32).issue("r-1", "churn")
