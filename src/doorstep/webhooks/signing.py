"""Standard Webhooks 1.0 signatures: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``,
keyed with the secret's decoded bytes. A few lines, so written here rather than taken from a
library; the tests check them with the ``standardwebhooks`` package receivers use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from doorstep import __version__

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
USER_AGENT = f"Doorstep-Webhooks/{__version__}"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_msg_id() -> str:
    """A delivery's ``webhook-id``: fixed when the delivery is made, sent with every attempt
    so that a receiver can drop repeats."""
    return "msg_" + secrets.token_urlsafe(18)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one attempt. With several secrets (a rotation's overlap) the
    signatures are space-separated: a receiver holding either secret finds its own."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
