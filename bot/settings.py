"""Process settings from the environment (prefix ``TICKETBOT_``, nested with ``__``) and ``.env``.

Runbook behaviour (projects, people, names, delays) lives in the rules YAML instead,
see :mod:`bot.config`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, HttpUrl, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import NoDecode


class ConfigurationError(Exception):
    """Invalid or missing configuration; the message names the key. The CLI exits with 2."""


class JiraSettings(BaseModel):
    url: HttpUrl | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    max_retries: int = Field(default=4, ge=0, le=10)
    #: HMAC secret of the admin webhook (``X-Hub-Signature: sha256=…``). Without it the
    #: endpoint refuses every request unless ``allow_unsigned`` is set.
    webhook_secret: SecretStr | None = None
    allow_unsigned: bool = False
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


class ZendeskSettings(BaseModel):
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


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)


class WorkerSettings(BaseModel):
    """The inbox workers: how many, how they retry, how long a claim lasts."""

    count: int = Field(default=4, ge=1, le=64)  # threads per worker process
    #: Child processes running the workers under ``ticketbot run``, so rule processing never
    #: competes with webhook acknowledgements for the interpreter lock. 0: threads in the HTTP process.
    processes: int = Field(default=1, ge=0, le=16)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base: float = Field(default=2.0, gt=0)  # seconds; doubles per attempt
    backoff_max: float = Field(default=600.0, gt=0)
    #: A tracker or Slack unavailable (5xx, timeouts, unreachable, throttling): its events are held without
    #: spending attempts for at most this many hours, then dead-lettered (see bot.outage).
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


class GuardSettings(BaseModel):
    """Blast-radius caps; past one the rule pauses until ``ticketbot rules resume ID``. 0 = no cap."""

    max_writes_per_ticket_10min: int = Field(default=30, ge=0)
    max_tickets_per_rule_hour: int = Field(default=200, ge=0)


class SlackSettings(BaseModel):
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
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKETBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    jira: JiraSettings = Field(default_factory=JiraSettings)
    database_url: str = "sqlite:///ticketbot.sqlite3"
    dry_run: bool = False
    config: Path = Path("config/ticketbot.yaml")
    log_level: str = "INFO"
    slack: SlackSettings = Field(default_factory=SlackSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    zendesk: ZendeskSettings = Field(default_factory=ZendeskSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    #: Testing mode only: ``memory:<site.yaml>[:<state.sqlite3>]`` runs the daemon against a
    #: file-backed in-memory site (state beside the site file by default) instead of Jira.
    #: Empty: Jira from ``jira.*``.
    tracker: str = ""

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
        raise ConfigurationError(f"{env_key(first['loc'])}: {first['msg']}") from None
