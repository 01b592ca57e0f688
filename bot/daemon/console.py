"""The operations console in ``ticketbot run``: ``/console`` and ``/api/v1`` on the daemon's HTTP port.

Mounted when ``TICKETBOT_CONSOLE__ADMINS`` names someone and the console can tell who is asking (a trusted
header and the proxies it is believed from); one log line says where it is, or why it is off. It reads the
daemon's own database and acts through the daemon's inbox and guards: a retried dead letter wakes the
workers at once, and a pause is told to the admin channel like any other (see :mod:`bot.console`).

:func:`schedule_digest` registers the weekly digest with the leader's scheduler: every process that builds
the daemon registers it (:func:`bot.daemon.build.build_daemon`), and only the leader runs it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.console.app import API, PAGES, Console, build_console, off_reason

if TYPE_CHECKING:
    from bot.console.digest import WeeklyDigest
    from bot.daemon.core import Daemon

log = logging.getLogger(__name__)


def mount_console(daemon: Daemon) -> Console | None:
    """Serve the console from ``daemon``'s app when it is configured; None (and one log line why) otherwise."""
    settings = daemon.settings
    reason = off_reason(settings.console)
    if reason:
        # Not configured at all is the usual case; half configured is a mistake worth a warning.
        (log.warning if settings.console.admins else log.info)("console: off: %s", reason)
        return None
    console = build_console(settings, store=daemon.store, inbox=daemon.inbox, rules=daemon.rules, clock=daemon.clock,
                            guards=daemon.guards)
    console.mount(daemon.app)
    log.info("console: at http://%s:%s%s/ (JSON API %s); %s", settings.http.host, settings.http.port, PAGES, API,
             console.where)
    return console


def schedule_digest(daemon: Daemon) -> WeeklyDigest | None:
    """The weekly digest as the leader's ``console-digest`` job (looked at every few minutes; it posts once a
    week, see :mod:`bot.console.digest`), when the console is configured, the digest is on and Slack has an
    admin channel; None (and one log line why) otherwise. A wrong TICKETBOT_CONSOLE__ADMIN_CALENDAR stops the
    start (ConfigurationError)."""
    from bot.console.digest import CHECK_EVERY, Schedule, WeeklyDigest
    from bot.console.queries import ConsoleQueries, TicketLinks
    from bot.effects import SlackMessage

    settings = daemon.settings
    c = settings.console
    why_not = ("TICKETBOT_CONSOLE__DIGEST is false" if not c.digest else off_reason(c)
               or ("" if daemon.notifier is not None and settings.slack.admin_channel
                   else "Slack has no admin channel (TICKETBOT_SLACK__BOT_TOKEN, TICKETBOT_SLACK__ADMIN_CHANNEL)"))
    schedule = Schedule.from_settings(c)  # checked even when off: a wrong calendar is a mistake either way
    if why_not:
        log.info("console digest: off: %s", why_not)
        return None
    notifier, channel = daemon.notifier, str(settings.slack.admin_channel)

    def message(week: str, text: str = "") -> SlackMessage:
        return SlackMessage(rule_id="console", ticket_key="", step=f"digest:{week}", text=text, channel=channel)

    find_sent = getattr(notifier, "find_sent", None)
    queries = ConsoleQueries(daemon.store, daemon.rules, daemon.clock,
                             due_soon=timedelta(seconds=c.due_soon_seconds),
                             links=TicketLinks(jira_url=str(settings.jira.url or ""),
                                               zendesk_url=settings.zendesk.url or ""), guards=settings.guards)
    digest = WeeklyDigest(queries, daemon.store, daemon.clock, schedule,
                          post=lambda week, text: notifier.send(message(week, text)),  # type: ignore[union-attr]
                          find_sent=(lambda week: find_sent(message(week)) is not None) if find_sent else None,
                          board_url=f"{c.public_url}{PAGES}/" if c.public_url else "")
    daemon.scheduler.add_job("console-digest", digest.run_once, "interval", seconds=CHECK_EVERY)
    log.info("console digest: weekly, %s, to %s%s", schedule.describe(), channel,
             "" if c.public_url else " (no board link: TICKETBOT_CONSOLE__PUBLIC_URL is not set)")
    return digest
