"""Process settings from the environment (prefix ``TICKETBOT_``, nested with ``__``) and ``.env``.

Runbook behaviour (projects, people, names, delays) lives in the rules YAML instead,
see :mod:`bot.config`.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError


class ConfigurationError(Exception):
    """Invalid or missing configuration; the message names the key. The CLI exits with 2."""


#: Seconds no setting may exceed: a year (a poll interval of 1e300 is finite, yet the wait on it overflows).
MAX_SECONDS = 365 * 86400.0
#: ``TICKETBOT_*`` variables read by something other than :class:`Settings` (the tests): no typo warning.
OTHER_VARIABLES = frozenset({"TICKETBOT_SHARED_DIR", "TICKETBOT_FUZZ_EXAMPLES", "TICKETBOT_TEST_POSTGRES_URL"})


def split_list(value: object) -> object:
    """A list setting as an environment variable gives it: ``"a, b"`` or a JSON list string (else as it is)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


class _Section(BaseModel):
    """A block of settings. Its floats (all of them durations in seconds) are finite and at most a year:
    ``inf`` or ``nan`` would be accepted by the model and then kill the scheduler that waits on it."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _bounded_float(cls, value: Any) -> Any:
        if isinstance(value, float) and value > MAX_SECONDS:
            raise ValueError(f"must be at most {MAX_SECONDS:.0f} seconds (a year)")
        return value


class JiraSettings(_Section):
    url: HttpUrl | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    max_retries: int = Field(default=4, ge=0, le=10)
    #: HMAC secret of the admin webhook (``X-Hub-Signature: sha256=…``). Without it the
    #: endpoint refuses every request unless ``allow_unsigned`` is set.
    webhook_secret: SecretStr | None = None
    allow_unsigned: bool = False
    #: Secret a Jira Automation "Send web request" action sends in ``X-Ticketbot-Automation-Secret``
    #: (Automation cannot sign); without it ``/webhooks/jira-automation`` refuses every request.
    automation_secret: SecretStr | None = None
    #: Seconds between polls for tickets updated since the last one; 0 turns polling off.
    poll_interval: float = Field(default=60.0, ge=0)
    #: Seconds each poll reaches back before its watermark (Jira's JQL has minute precision).
    poll_overlap: float = Field(default=120.0, ge=0)
    #: The bot's own Jira account id; its events are ignored. Default: the account of ``email``.
    bot_account_id: str | None = None

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError("must be an e-mail address")
        return value


class ZendeskSettings(_Section):
    #: The Zendesk account (``https://acme.zendesk.com``), an agent's e-mail and API token: what
    #: ``ticketbot check`` (and any Zendesk rule) reaches Zendesk with.
    url: str | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    #: Signing secret of the Zendesk webhook; without it the endpoint refuses every request
    #: unless ``allow_unsigned`` is set.
    webhook_secret: SecretStr | None = None
    allow_unsigned: bool = False
    #: Signatures whose timestamp is further than this from now (seconds) are refused.
    max_signature_age: float = Field(default=300.0, gt=0)
    #: Seconds between polls of the incremental export (with url/email/api_token set); 0 turns it off.
    poll_interval: float = Field(default=60.0, ge=0)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)


class WorkerSettings(_Section):
    """The inbox workers: how many, how they retry, how long a claim lasts."""

    count: int = Field(default=4, ge=1, le=64)  # threads per worker process
    #: Child processes running the workers under ``ticketbot run``, so rule processing never
    #: competes with webhook acknowledgements for the interpreter lock. 0: threads in the HTTP process.
    processes: int = Field(default=1, ge=0, le=16)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base: float = Field(default=2.0, gt=0)  # seconds; doubles per attempt
    backoff_max: float = Field(default=600.0, gt=0)
    #: A tracker or Slack unavailable (5xx, timeouts, unreachable, throttling): its events are held without
    #: spending attempts for at most this many hours, then dead-lettered (see bot.inbox.outage).
    outage_max_hours: float = Field(default=24.0, gt=0)
    #: An outage lasting longer than this (seconds) is reported to the admin channel, and then its end.
    outage_alert_after: float = Field(default=180.0, ge=0)
    #: The longest wait between two tries of a system in an outage (seconds; the wait doubles from backoff_base).
    outage_probe_max: float = Field(default=60.0, gt=0)
    #: A claimed event whose worker went silent this long is claimable again (crashed replica).
    lease_seconds: float = Field(default=60.0, gt=0)
    #: How often an idle worker looks for work written by other replicas (seconds).
    idle_poll: float = Field(default=0.5, gt=0)
    #: How often a replica tries to become the scheduler (seconds).
    leader_retry: float = Field(default=5.0, gt=0)
    #: How often the leader turns due durable timers into ``timer.fired`` events (seconds). A sweep with
    #: nothing due is one indexed read; a timer waits at most this long past its due time for it.
    timer_sweep_seconds: float = Field(default=0.25, gt=0)


class GuardSettings(_Section):
    """Blast-radius caps; past one the rule pauses until ``ticketbot rules resume ID``. 0 = no cap."""

    max_writes_per_ticket_10min: int = Field(default=30, ge=0)
    max_tickets_per_rule_hour: int = Field(default=200, ge=0)


class ArchiveSettings(_Section):
    """The event archive (:mod:`bot.inbox.archive`): how long what the daemon received is kept for
    ``ticketbot events export`` and backtests, past the inbox's own 14 days. 0 keeps nothing."""

    retention_days: float = Field(default=90.0, ge=0)


class CheckSettings(_Section):
    """``ticketbot run`` resolves every name the rules use (``ticketbot check``) before it serves.

    Each missing name is logged and told to the admin channel; ``strict`` (or ``ticketbot run --strict``)
    refuses to start instead (exit 2, one line per miss). A site that cannot be reached is a warning.
    ``at_start=false`` skips the check (tests that start many daemons; it is also skipped, with a log
    line, when no tracker is configured).
    """

    strict: bool = False
    at_start: bool = True


class SlackSettings(_Section):
    """The Slack app: a bot token for the Web API, and how Slack reaches us.

    HTTP mode needs ``signing_secret`` (requests to ``/slack/events`` are verified with it);
    Socket Mode needs ``app_token`` (``xapp-…``). ``admins`` are Slack user ids allowed to
    pause/resume rules and to approve anything; the env var takes ``U1,U2`` or a JSON list.
    """

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_channel: str | None = None

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        """Accept ``"U1, U2"`` (env) as well as a list or a JSON list string."""
        return split_list(value)

    @field_validator("admins")
    @classmethod
    def _admin_ids_shape(cls, value: list[str]) -> list[str]:
        for user_id in value:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
                raise ValueError(f"{user_id!r} is not a Slack user id (U…/W…)")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"


class ConsoleSettings(_Section):
    """The operations console (``/console`` and ``/api/v1`` under ``ticketbot run``; ``ticketbot console``).

    Off until ``admins`` names someone. A request is somebody's only when an authenticating reverse proxy
    (oauth2-proxy and the like) says so in ``trusted_header`` and the request comes straight from one of
    ``trusted_proxies`` (addresses or networks: the header of anyone else is never believed); that
    person must be one of ``admins`` (e-mail addresses, compared case-insensitively). ``secret`` keys
    the CSRF tokens of the forms (HMAC); without it each process draws its own at start, so set it
    when several replicas serve the console behind one address. An instance whose next deadline is
    less than ``due_soon_seconds`` away is shown as due soon.

    Without a proxy, ``/ticketbot console`` in Slack hands an admin a sign-in link under ``public_url`` (the
    address people reach ticketbot at, ``https://ticketbot.acme.example``): single use, valid for
    ``sign_in_minutes``; following it starts a session of ``session_hours`` held in a cookie that is
    ``Secure`` unless ``cookie_secure`` is false (plain http on localhost only) and ``SameSite`` as
    ``cookie_samesite`` says. ``public_url`` is also where the weekly digest links to.

    The weekly digest (in flight, overdue, closed this week, slowest stage) goes to the admin channel
    (``TICKETBOT_SLACK__ADMIN_CHANNEL``) on ``digest_day`` at ``digest_hour`` on ``admin_calendar`` (its
    time zone; a day that is no working day there moves it to the next one; UTC Monday to Friday by default);
    ``digest`` false turns it off.
    """

    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_header: str | None = None
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    secret: SecretStr | None = None
    due_soon_seconds: float = Field(default=86400.0, gt=0)
    public_url: str | None = None
    sign_in_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 31)
    cookie_secure: bool = True
    cookie_samesite: Literal["lax", "strict"] = "lax"
    digest: bool = True
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_hour: int = Field(default=9, ge=0, le=23)
    #: A business calendar (``time_zone``, ``working_days``, ``country``, ``closures`` …, as a rule's ``calendar``
    #: block), read by :func:`bot.console.digest.admin_calendar` (bot.calendar imports the settings, so it is
    #: checked there: at ``ticketbot run``'s start, naming this key).
    admin_calendar: dict[str, Any] = Field(default_factory=dict)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
            raise ValueError(f"{value!r} is not an http(s) address (https://ticketbot.acme.example)")
        return text

    @field_validator("digest_day", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return value.strip().lower()[:3] if isinstance(value, str) else value

    @field_validator("admins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept ``"a@x, b@y"`` (env) as well as a list or a JSON list string."""
        return split_list(value)

    @field_validator("admins")
    @classmethod
    def _admin_emails(cls, value: list[str]) -> list[str]:
        admins = []
        for email in value:
            normalized = email.strip().casefold()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", normalized):
                raise ValueError(f"{email!r} is not an e-mail address")
            admins.append(normalized)
        return admins

    @field_validator("trusted_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9-]+", value.strip()):
            raise ValueError(f"{value!r} is not an HTTP header name (letters, digits and dashes)")
        return value.strip()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (10.0.0.5, 10.0.0.0/8, ::1)") from None
        return [item.strip() for item in value]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKETBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        allow_inf_nan=False,
    )

    jira: JiraSettings = Field(default_factory=JiraSettings)
    database_url: str = "sqlite:///ticketbot.sqlite3"
    dry_run: bool = False
    config: Path = Path("config/ticketbot.yaml")
    log_level: str = "INFO"
    #: ``text`` (one readable line a record) or ``json`` (JSON lines for a log pipeline, each record of an
    #: event carrying its ``event_id``, ``ticket_key`` and, within a rule, ``rule_id``).
    log_format: Literal["text", "json"] = "text"
    slack: SlackSettings = Field(default_factory=SlackSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    zendesk: ZendeskSettings = Field(default_factory=ZendeskSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    check: CheckSettings = Field(default_factory=CheckSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    #: Testing mode only: ``memory:<site.yaml>[:<state.sqlite3>]`` runs the daemon against a
    #: file-backed in-memory site (state beside the site file by default) instead of Jira.
    #: Empty: Jira from ``jira.*``.
    tracker: str = ""

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        names = [n for n in logging.getLevelNamesMapping() if n not in ("NOTSET", "WARN", "FATAL")]
        if level not in names:
            raise ValueError(f"{value!r} is not a log level (one of {', '.join(names)})")
        return level

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        """A URL SQLAlchemy can open (its dialect known), checked before anything connects."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ValueError(f"not a database URL SQLAlchemy can open ({exc})") from None
        return value

    def require_jira(self) -> JiraSettings:
        """The Jira connection, or a ConfigurationError naming the first missing key."""
        for key in ("url", "email", "api_token"):
            if getattr(self.jira, key) in (None, ""):
                raise ConfigurationError(f"TICKETBOT_JIRA__{key.upper()} is not set (needed to reach Jira)")
        return self.jira


def require_zendesk(settings: Settings) -> ZendeskSettings:
    """The Zendesk connection, or a ConfigurationError naming the first missing key."""
    for key in ("url", "email", "api_token"):
        if getattr(settings.zendesk, key) in (None, ""):
            raise ConfigurationError(f"TICKETBOT_ZENDESK__{key.upper()} is not set (needed to reach Zendesk)")
    return settings.zendesk


def env_key(loc: tuple) -> str:
    """``('jira', 'url')`` -> ``TICKETBOT_JIRA__URL``."""
    return "TICKETBOT_" + "__".join(str(part).upper() for part in loc)


def load_settings(**overrides) -> Settings:
    """Build settings, turning pydantic's report into one message that names the key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
        raise ConfigurationError(f"{env_key(first['loc'])}: {message}") from None
    except SettingsError as exc:  # a nested variable (TICKETBOT_JIRA='{…') that is not JSON
        raise ConfigurationError(_unparsable(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:  # .env is a directory, binary…
        raise ConfigurationError(f"{_env_file()}: cannot read: {exc}") from None


def _unparsable(exc: SettingsError) -> str:
    """pydantic-settings' 'error parsing value for field "jira" from source "EnvSettingsSource"', as a user
    reads it: the variable, where it was set, and why."""
    found = re.search(r'field "(\w+)" from source "(\w+)"', str(exc))
    if found is None:
        return str(exc)
    name, source = env_key((found[1],)), found[2]
    where = f" (in {_env_file()})" if source.startswith("DotEnv") else ""
    cause = f": {exc.__cause__}" if exc.__cause__ else ""
    return (f"{name}{where} is not valid JSON{cause}; give a JSON object, or set its keys one by one "
            f"({name}__<KEY>)")


def _env_file() -> str:
    return str(Settings.model_config.get("env_file") or ".env")


def known_variables(model: type[BaseModel] = Settings, prefix: str = "TICKETBOT_") -> set[str]:
    """Every environment variable a setting is read from: ``TICKETBOT_JIRA``, ``TICKETBOT_JIRA__URL``…"""
    names = set()
    for name, info in model.model_fields.items():
        variable = prefix + name.upper()
        names.add(variable)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names |= known_variables(info.annotation, variable + "__")
    return names


def misspelt_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> list[str]:
    """A warning for each ``TICKETBOT_*`` variable (in the environment or ``.env``) that no setting reads,
    naming the closest known one: such a variable is otherwise silently ignored."""
    environ = os.environ if environ is None else environ
    env_file = Path(_env_file()) if env_file is None else env_file
    known = known_variables() | OTHER_VARIABLES
    warnings = []
    for name, where in _prefixed(environ.keys(), "the environment") + _prefixed(_dotenv_keys(env_file), str(env_file)):
        if name.upper() in known:
            continue
        # Compared without the prefix all share, which would make any two names look alike.
        closest = difflib.get_close_matches(name.upper().removeprefix("TICKETBOT_"),
                                            [k.removeprefix("TICKETBOT_") for k in known], n=1, cutoff=0.75)
        hint = f"; did you mean TICKETBOT_{closest[0]}?" if closest else " (see README: Configuration)"
        warnings.append(f"{name} (in {where}) is not a ticketbot setting and is ignored{hint}")
    return warnings


def _prefixed(names: Iterable[str], where: str) -> list[tuple[str, str]]:
    return [(name, where) for name in names if name.upper().startswith("TICKETBOT_")]


def _dotenv_keys(path: Path) -> list[str]:
    """The keys of a .env file (none when it is missing or unreadable: loading reports that)."""
    from dotenv import dotenv_values

    if not path.is_file():
        return []
    try:
        return list(dotenv_values(path, encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []


# logging -----------------------------------------------------------------------------------------------
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The ids of what the current thread works on (an event, a rule), put on every log record it makes.
_LOG_IDS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ticketbot_log_ids", default={})  # noqa: B039
LOG_IDS = ("event_id", "ticket_key", "rule_id")


@contextlib.contextmanager
def log_context(**ids: str) -> Iterator[None]:
    """Records logged inside carry these ids (``event_id``, ``ticket_key``, ``rule_id``) as fields."""
    token = _LOG_IDS.set({**_LOG_IDS.get(), **ids})
    try:
        yield
    finally:
        _LOG_IDS.reset(token)


class _WithIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _LOG_IDS.get().items():
            setattr(record, name, value)
        return True


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """The process's one logging setup: the level and format the settings name, on stderr.

    Idempotent: a second call (a command that also serves) replaces the handler it installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_ticketbot", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._ticketbot = True  # type: ignore[attr-defined]
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_WithIds())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
