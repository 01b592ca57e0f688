"""What every source of requests shares: reading a body within a bound, the refusal a parser raises, reading a
JSON object, stable event ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request


class MalformedEvent(ValueError):
    """The payload is not a webhook of its source that ticketbot can make sense of; the message says why.

    Retrying such a payload cannot help: the endpoint answers 400, a stored one is dead-lettered.
    """


def json_object(body: bytes | str | Mapping[str, Any], what: str) -> dict[str, Any]:
    """``body`` (raw JSON, or already parsed) as a JSON object, or :class:`MalformedEvent` naming ``what``."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedEvent(f"{what} body is not JSON: {exc}") from None
        except RecursionError:  # the stdlib parser recurses per level; a crafted body can outnest it
            raise MalformedEvent(f"{what} body is nested too deeply to be read") from None
    return require_object(body, what)


def require_object(payload: Any, what: str) -> dict[str, Any]:
    """An already parsed body, which must be a JSON object."""
    if not isinstance(payload, Mapping):
        raise MalformedEvent(f"{what} body must be a JSON object, got {type(payload).__name__}")
    return dict(payload)


def sha256_hex(identity: str) -> str:
    """The hex digest that makes an event id out of what identifies the event.

    Ids are stored as inbox dedup keys, so a redelivery is recognised by them: what a source
    puts into ``identity`` must never change between releases.
    """
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is (or declares to be) over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
