"""The rules YAML: which rules run, and the site-specific names, people and delays they use.

Each rule declares a pydantic model for its block under ``rules.<rule id>``; the seed
runbook's values are that model's defaults, so an empty block already describes the
runbook as written, and a site overrides only what differs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, StrictBool, ValidationError

from bot.settings import ConfigurationError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


M = TypeVar("M", bound=BaseModel)


def parse_duration(value: Any) -> timedelta:
    """``"24h"``, ``"1d 6h"``, ``"90m"``, ``3600`` (seconds) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION.findall(text)
        if parts and _DURATION.sub("", text).strip() == "":
            return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))
    raise ValueError(f"not a duration: {value!r} (use e.g. 24h, 90m, 2d)")


#: A wall-clock duration; written to JSON as seconds, which it reads back (pydantic's ISO 8601 it would not).
Duration = Annotated[timedelta, BeforeValidator(parse_duration),
                     PlainSerializer(lambda value: value.total_seconds(), when_used="json")]


class RuleBlock(BaseModel):
    """Base for every rule's config block: unknown keys are errors (typos must not pass)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    #: The rule may post public replies to the requester; off unless a block says so. Only a YAML
    #: boolean written in the block counts, not a rule's own default (bot.engine.allows_customer_replies).
    customer_replies: StrictBool = False


class RawConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, dict[str, Any] | None] = {}


def read_yaml(path: Path, what: str) -> Any:
    """The YAML document in ``path``, or a ConfigurationError of one line saying why it cannot be read.

    ``what`` names where the path came from (``TICKETBOT_CONFIG``, ``--site``) at the head of the line."""
    if not path.exists():
        raise ConfigurationError(f"{what}: file not found: {path}")
    if not path.is_file():  # a directory; /dev/zero would be read for ever
        raise ConfigurationError(f"{what}: {path} is not a file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{what}: {path} is not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what}: {path} is not UTF-8 text (a binary file?)") from None
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{what}: {path} is nested too deeply") from None


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(where, message) of a validation error's first problem; where is a dotted path or "the whole file"."""
    first = exc.errors()[0]
    return ".".join(map(str, first["loc"])) or "the whole file", first["msg"]


def read_model(path: Path, what: str, model: type[M], *, prefix: str = "", hint: str = "") -> M:
    """The YAML file at ``path`` (named ``what`` in errors) as ``model``; else one line naming the first
    problem: ``{prefix}{path}: {where}: {message}{hint}``."""
    data = read_yaml(path, what) or {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where, message = first_error(exc)
        raise ConfigurationError(f"{prefix}{path}: {where}: {message}{hint}") from None


def load_raw(path: Path) -> RawConfig:
    return read_model(path, "TICKETBOT_CONFIG", RawConfig)


def validate_block(rule_id: str, model: type[RuleBlock], block: dict[str, Any] | None, path: Path) -> RuleBlock:
    try:
        return model.model_validate(block or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["rules", rule_id, *map(str, first["loc"])])
        raise ConfigurationError(f"{path}: {where}: {first['msg']}") from None
