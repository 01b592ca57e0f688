"""Webhook signature checks, on the raw body, in constant time: the only place they live.

Jira admin webhooks: ``X-Hub-Signature: sha256=<lowercase hex HMAC-SHA256(secret, body)>``.

Zendesk: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(key = signing secret as UTF-8 text,
msg = timestamp + raw body)), with the time in ``X-Zendesk-Webhook-Signature-Timestamp``; a stale
timestamp is refused. That is the CURRENT documented order. Zendesk's older "verifying" page
printed ``BODY + TIMESTAMP`` and its only worked example verifies only that way; we follow the
current formula and do not accept the legacy order (accepting both would double what an attacker
may splice), see the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

JIRA_SIGNATURE_HEADER = "X-Hub-Signature"
ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


class SignatureError(Exception):
    """The request is not proven to come from the sender; the message says why (no secrets)."""


def jira_signature(secret: str, body: bytes) -> str:
    """The header value Jira sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_jira_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise SignatureError unless ``header`` is the ``sha256=`` HMAC of ``body``."""
    if not header:
        raise SignatureError("missing X-Hub-Signature")
    method, _, given = header.strip().partition("=")
    if method.lower() != "sha256" or not given:
        raise SignatureError("X-Hub-Signature is not of the form sha256=<hex>")
    expected = jira_signature(secret, body).removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise SignatureError("X-Hub-Signature does not match the body")


def zendesk_signature(secret: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk documents it today."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_zendesk_signature(secret: str, body: bytes, signature: str | None, timestamp: str | None, *,
                             now: datetime, max_age: timedelta | float = timedelta(minutes=5)) -> None:
    """Raise :class:`SignatureError` unless ``signature`` signs ``timestamp + body`` and is fresh.

    The comparison is constant-time; a timestamp more than ``max_age`` (a timedelta, or seconds)
    away from ``now`` (either way) is refused so a captured request cannot be replayed later.
    Missing headers may be passed as ``None`` or "".
    """
    if not isinstance(max_age, timedelta):
        max_age = timedelta(seconds=max_age)
    if not secret:
        raise SignatureError("no Zendesk signing secret is configured")
    if not signature or not timestamp:
        raise SignatureError(f"missing {ZENDESK_SIGNATURE_HEADER} or {ZENDESK_TIMESTAMP_HEADER} header")
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    expected = zendesk_signature(secret, raw, timestamp)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise SignatureError("Zendesk webhook signature does not match")
    age = abs(now - _signed_at(timestamp))
    if age > max_age:
        raise SignatureError(f"Zendesk webhook timestamp is {age} away from now (limit {max_age})")


def _signed_at(timestamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(timestamp.strip())  # 3.11+ reads "Z" too
    except ValueError:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} is not an ISO-8601 time: {timestamp[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
