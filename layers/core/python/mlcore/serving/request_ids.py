"""Request ids the API issues and only the API can issue: feedback names a prediction by one.

A prediction's `request_id` is API Gateway's id with an HMAC of it and the model's name, keyed by a secret
each container derives once from the deployment's KMS HMAC key (`GenerateMac` of a fixed message: the key
material never leaves KMS, and every container derives the same secret). Feedback whose id this API did not
issue for that model (unknown, forged, or another model's) is refused, so no one can label rows they never
had predicted.
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

    def issue(self, request_id: str, model: str) -> str:
        """The id a prediction of `model` answers with: `<request id>.<mac>`."""
        return f"{request_id}{SEPARATOR}{self._mac(request_id, model)}"

    def issued(self, signed: str, model: str) -> bool:
        """Whether this API issued `signed` for a prediction of `model` (compared in constant time)."""
        request_id, separator, mac = signed.rpartition(SEPARATOR)
        if not separator or not request_id:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(request_id, model).encode())
