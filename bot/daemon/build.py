"""Building a :class:`~bot.daemon.core.Daemon` from settings: the trackers, the pollers, the start-up check."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot.check import FAILED, MISSING, connect_from_settings, miss_line, run_check
from bot.clock import Clock, SystemClock
from bot.daemon.console import schedule_digest
from bot.daemon.core import Daemon, own_account
from bot.engine import BoundRule
from bot.model import User
from bot.settings import ConfigurationError, Settings
from bot.trackers.base import Tracker
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.jira.model import FieldCatalog
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import jira_field_json
from bot.trackers.zendesk.adapter import ZendeskTracker

log = logging.getLogger(__name__)


def build_daemon(settings: Settings, *, alert: Callable[[str], None] | None = None,
                 migrate: bool = True) -> Daemon:
    """The daemon ``ticketbot run`` serves: Jira from ``TICKETBOT_JIRA__*``, or the testing site."""
    from rules import load_rules  # rules import bot; keep bot importable without them

    rules = load_rules(settings.config)
    clock = SystemClock()
    if settings.tracker.startswith("memory:"):
        tracker, bot_user, catalog = _memory_site(settings.tracker, clock)
    else:
        tracker, bot_user, catalog = _jira(settings)
    daemon = Daemon(settings, rules=rules, tracker=tracker, clock=clock, bot_user=bot_user, catalog=catalog,
                    zendesk_tracker=_zendesk(settings, clock), alert=alert, migrate=migrate)
    schedule_digest(daemon)  # the weekly digest to the admin channel, run by the leader (bot/console/digest.py)
    return daemon


def _memory_site(setting: str, clock: Clock) -> tuple[Tracker, Callable[[], User | None], Callable[[], Any]]:

    tracker = SharedMemoryTracker.open(setting, now=clock.now)
    log.warning("TESTING MODE: tracker is the in-memory site %s, not Jira", setting.removeprefix("memory:"))
    account = tracker.site.bot_account
    bot = User(account_id=account.account_id, email=account.email, display_name=account.display_name)
    catalog = FieldCatalog.from_fields(jira_field_json(tracker.site))
    return tracker, lambda: bot, lambda: catalog


def _jira(settings: Settings) -> tuple[Tracker, Callable[[], User | None], Callable[[], Any]]:

    jira = settings.require_jira()
    tracker = JiraTracker.from_settings(jira)
    if jira.bot_account_id:
        bot = User(account_id=jira.bot_account_id)
        def bot_user() -> (User | None):
            return bot
    else:  # the account the API token belongs to (its events are our own)
        bot_user = own_account(tracker, jira.email or "")
    return tracker, bot_user, tracker.field_catalog


def _zendesk(settings: Settings, clock: Clock) -> Tracker | None:
    """The Zendesk tracker when ``TICKETBOT_ZENDESK__URL``/``__EMAIL``/``__API_TOKEN`` are set (one of them
    alone is a configuration error naming the others); None: Zendesk events are recorded and set aside."""

    z = settings.zendesk
    if not (z.url or z.email or z.api_token):
        return None
    return ZendeskTracker.from_settings(z, now=clock.now)


def check_names_at_start(settings: Settings, rules: Sequence[BoundRule], alert: Callable[[str], None]) -> list[str]:
    """``ticketbot check`` before serving: every name the enabled rules use that the sites do not have is
    logged and told to the admin channel (one alert per start); returns those lines.

    With ``TICKETBOT_CHECK__STRICT`` (``ticketbot run --strict``) a required name missing refuses the
    start instead: a ConfigurationError with one line per miss (the CLI exits 2). A site that cannot
    be asked is only a warning: the outage path deals with it once events come. Skipped, in no time,
    when ``TICKETBOT_CHECK__AT_START`` is false or no tracker is configured.
    """

    if not settings.check.at_start:
        return []
    configured = [system for system in (settings.jira, settings.zendesk)
                  if all((system.url, system.email, system.api_token))]
    if not (settings.tracker.startswith("memory:") or configured):
        log.info("start-up check skipped: no tracker is configured")
        return []
    try:
        report = run_check(rules, connect_from_settings(settings))
    except Exception:  # the check must never be why the daemon does not serve (unless --strict found a miss)
        log.warning("start-up check could not run; serving anyway (`ticketbot check` shows the names)",
                    exc_info=True)
        return []
    misses = [r for r in report.resolutions if r.outcome == MISSING]
    lines = [miss_line(r) + ("" if r.requirement.required else " [optional]") for r in misses]
    for line in lines:
        log.warning("start-up check: %s", line)
    unasked = {r.requirement.system: r.detail for r in report.resolutions if r.outcome == FAILED}
    for system, detail in sorted(unasked.items()):
        log.warning("start-up check: could not ask %s (%s); serving anyway", system,
                    report.unavailable.get(system) or detail)
    required = [miss_line(r) for r in misses if r.requirement.required]
    if settings.check.strict and required:
        raise ConfigurationError(f"{len(required)} name(s) the rules use are missing (strict start-up check, "
                                 "TICKETBOT_CHECK__STRICT / --strict); fix the site or the config:\n"
                                 + "\n".join(required))
    if lines:
        alert(f"ticketbot started, but {len(lines)} name(s) the rules use were not found on the sites:\n"
              + "\n".join(lines) + "\nFix the site or the rule config; `ticketbot check` shows the closest names.")
    return lines
