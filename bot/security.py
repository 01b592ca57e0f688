"""Webhook signature checks, on the raw body, in constant time.

Jira admin webhooks: ``X-Hub-Signature: sha256=<lowercase hex HMAC-SHA256(secret, body)>``.
Zendesk's check (base64 HMAC of timestamp + body, stale timestamps refused) lives with its
parser in :mod:`bot.sources.zendesk_webhook`; :func:`verify_zendesk` adapts it here.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

JIRA_SIGNATURE_HEADER = "x-hub-signature"
ZENDESK_SIGNATURE_HEADER = "x-zendesk-webhook-signature"
ZENDESK_TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"


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
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise SignatureError("X-Hub-Signature does not match the body")


def verify_zendesk(secret: str, body: bytes, signature: str | None, timestamp: str | None, *,
                   now: datetime, max_age: float) -> None:
    """Zendesk's check from :mod:`bot.sources.zendesk_webhook`, raising this module's SignatureError."""
    from bot.sources import zendesk_webhook

    try:
        zendesk_webhook.verify_zendesk_signature(secret, body, signature or "", timestamp or "", now=now,
                                                 max_age=timedelta(seconds=max_age))
    except zendesk_webhook.SignatureError as exc:
        raise SignatureError(str(exc)) from None
