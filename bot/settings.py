"""Process settings from the environment (prefix ``TICKETBOT_``, nested with ``__``) and ``.env``.

Runbook behaviour (projects, people, names, delays) lives in the rules YAML instead,
see :mod:`bot.config`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, HttpUrl, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(Exception):
    """Invalid or missing configuration; the message names the key. The CLI exits with 2."""


class JiraSettings(BaseModel):
    url: HttpUrl | None = None
    email: str | None = None
    api_token: SecretStr | None = None
    max_retries: int = Field(default=4, ge=0, le=10)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError("must be an e-mail address")
        return value


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

    def require_jira(self) -> JiraSettings:
        """The Jira connection, or a ConfigurationError naming the first missing key."""
        for key in ("url", "email", "api_token"):
            if getattr(self.jira, key) in (None, ""):
                raise ConfigurationError(f"TICKETBOT_JIRA__{key.upper()} is not set (needed to reach Jira)")
        return self.jira


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
