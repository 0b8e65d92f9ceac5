"""Request ids the API issues and only the API can issue: feedback names a prediction by one.

A prediction's `request_id` is API Gateway's id and the prediction's number of rows, with an HMAC of them
and the model's name keyed by a secret each container derives once from the deployment's KMS HMAC key
(`GenerateMac` of a fixed message: the key material never leaves KMS, and every container derives the same
secret). Feedback whose id this API did not issue for that model (unknown, forged, or another model's), or
that names a row the prediction did not have, is refused, so no one can label rows they never had predicted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

DERIVATION = b"mlops request ids v1"
MAC_CHARS = 22  # 132 bits of HMAC-SHA-256, base64url
SEPARATOR = "."


class RequestIds:
    """Signs and checks request ids with a secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def derived(cls, kms: Any, key_id: str) -> RequestIds:
        """The secret derived from a KMS HMAC key (a boto3 KMS client, or the predict function's light one)."""
        mac = kms.generate_mac(KeyId=key_id, Message=DERIVATION, MacAlgorithm="HMAC_SHA_256")["Mac"]
        return cls(bytes(mac))

    def _mac(self, request_id: str, model: str) -> str:
        digest = hmac.new(self._secret, f"{model}\n{request_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]

    def issue(self, request_id: str, model: str, rows: int) -> str:
        """The id a prediction of `model` with `rows` rows answers with: `<request id>.<rows>.<mac>`. The MAC covers
        the rows too, so feedback cannot name a row the prediction did not have."""
        counted = f"{request_id}{SEPARATOR}{rows}"
        return f"{counted}{SEPARATOR}{self._mac(counted, model)}"

    @staticmethod
    def rows(signed: str) -> int | None:
        """How many rows the prediction an issued id names had; None for an id issued before ids counted them
        (`<request id>.<mac>`). Only an id `issued` recognizes carries a number it can be taken at."""
        parts = signed.split(SEPARATOR)
        return int(parts[1]) if len(parts) == 3 and parts[1].isascii() and parts[1].isdigit() else None

    def issued(self, signed: str, model: str) -> bool:
        """Whether this API issued `signed` for a prediction of `model` (compared in constant time)."""
        request_id, separator, mac = signed.rpartition(SEPARATOR)
        if not separator or not request_id:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(request_id, model).encode())
