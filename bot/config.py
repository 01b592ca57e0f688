"""The rules YAML: which rules run, and the site-specific names, people and delays they use.

Each rule declares a pydantic model for its block under ``rules.<rule id>``; the seed
runbook's values are that model's defaults, so an empty block already describes the
runbook as written, and a site overrides only what differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    """The rules YAML: ``rules:`` (a block per rule id), ``automations:`` (a list, validated by
    :mod:`rules.automations`) and ``include:`` (files beside it whose ``automations:`` join the list)."""

    model_config = ConfigDict(extra="forbid")
    rules: dict[str, dict[str, Any] | None] = {}
    include: list[str] = []
    automations: list[Any] = []


class IncludedConfig(BaseModel):
    """A file named under ``include:``: automations only (a rule's block lives in the main file)."""

    model_config = ConfigDict(extra="forbid")
    automations: list[Any] = []


@dataclass(frozen=True)
class RawAutomation:
    """One item of an ``automations:`` list, not validated yet, and where it is written (for errors)."""

    path: Path
    index: int
    data: Any

    @property
    def where(self) -> str:
        return f"automations[{self.index}]"


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


def key_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A validation error's location as the YAML's keys: ``actions[0].set.Priority`` (list items by index)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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


def raw_automations(path: Path, raw: RawConfig) -> list[RawAutomation]:
    """The automations of the rules YAML at ``path`` and of the files it includes, in that order.

    An included file is named relative to the including one, holds only ``automations:`` and includes
    nothing itself; a file that cannot be read or holds anything else is one line naming it."""
    found = [RawAutomation(path, i, item) for i, item in enumerate(raw.automations)]
    for n, name in enumerate(raw.include):
        where = f"{path}: include[{n}]"
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{where}: a file name is needed")
        included = (path.parent / name.strip()).resolve()
        data = read_yaml(included, where) or {}
        if isinstance(data, dict) and set(data) - {"automations"}:
            other = sorted(map(str, set(data) - {"automations"}))[0]
            raise ConfigurationError(f"{included}: {other}: an included file holds only automations: (rules: blocks "
                                     f"and include: belong in the main rules YAML, {path})")
        try:
            part = IncludedConfig.model_validate(data)
        except ValidationError as exc:
            at, message = first_error(exc)
            raise ConfigurationError(f"{included}: {at}: {message}") from None
        found += [RawAutomation(included, i, item) for i, item in enumerate(part.automations)]
    return found


def validate_block(rule_id: str, model: type[RuleBlock], block: dict[str, Any] | None, path: Path) -> RuleBlock:
    try:
        return model.model_validate(block or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["rules", rule_id, *map(str, first["loc"])])
        raise ConfigurationError(f"{path}: {where}: {first['msg']}") from None
