"""Request ids the API issues: signed for one model, checked in constant time, not forgeable without the secret."""

from __future__ import annotations

import pytest

from mlcore.serving import RequestIds

IDS = RequestIds(b"s" * 32)


def test_an_issued_id_is_recognized_for_its_model_only() -> None:
    issued = IDS.issue("c2f0a1d4-0000-4000-8000-000000000001", "churn", 5)
    assert issued.startswith("c2f0a1d4-0000-4000-8000-000000000001.5.")
    assert RequestIds.rows(issued) == 5
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
    issued = IDS.issue("c2f0a1d4-0000-4000-8000-000000000001", "churn", 5)
    request_id, mac = issued.rsplit(".", 1)
    assert not IDS.issued(forged.format(id=request_id, mac=mac), "churn")


def test_a_flipped_character_of_the_mac_is_refused() -> None:
    issued = IDS.issue("r-1", "churn", 1)
    last = issued[-1]
    assert not IDS.issued(issued[:-1] + ("A" if last != "A" else "B"), "churn")


def test_another_secret_issues_other_ids() -> None:
    assert not RequestIds(b"t" * 32).issued(IDS.issue("r-1", "churn", 1), "churn")


def test_the_secret_is_derived_from_a_kms_hmac_key_once() -> None:
    class Kms:
        calls: list[dict[str, object]] = []

        def generate_mac(self, **request: object) -> dict[str, object]:
            self.calls.append(request)
            return {"Mac": b"m" * 32}

    kms = Kms()
    derived = RequestIds.derived(kms, "key-1")
    assert kms.calls == [{"KeyId": "key-1", "Message": b"mlops request ids v1", "MacAlgorithm": "HMAC_SHA_256"}]
    assert derived.issue("r-1", "churn", 1) == RequestIds(b"m" * 32).issue("r-1", "churn", 1)


def test_the_rows_an_id_counts_are_signed_with_it() -> None:
    issued = IDS.issue("r-1", "churn", 5)
    request_id, rows, mac = issued.split(".")
    assert rows == "5" and IDS.issued(f"{request_id}.{rows}.{mac}", "churn")
    assert not IDS.issued(f"{request_id}.50.{mac}", "churn")  # more rows than the prediction had
    assert not IDS.issued(f"{request_id}.{mac}", "churn")  # the rows left out


def test_an_id_issued_before_ids_counted_rows_is_still_recognized_with_no_count() -> None:
    legacy = f"r-1.{IDS._mac('r-1', 'churn')}"  # `<request id>.<mac>`, as issued until ids counted rows
    assert IDS.issued(legacy, "churn")
    assert RequestIds.rows(legacy) is None
