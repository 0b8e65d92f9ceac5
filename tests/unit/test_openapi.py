"""The committed OpenAPI document is the one the code generates, and it is valid OpenAPI 3.1."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from mlcore.serving import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "functions" / "predict" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert json.loads(COMMITTED.read_text()) == openapi_document(), "run `make openapi` and commit the result"


def test_document_is_valid_and_covers_every_route() -> None:
    document = openapi_document()
    validate(document)
    assert set(document["paths"]) == {"/models/{name}/predict", "/models/{name}/feedback", "/models/{name}"}
    predict = document["paths"]["/models/{name}/predict"]["post"]
    assert {"200", "400", "404", "413", "503"} <= set(predict["responses"])
