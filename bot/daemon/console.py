"""The operations console in ``ticketbot run``: ``/console`` and ``/api/v1`` on the daemon's HTTP port.

Mounted when ``TICKETBOT_CONSOLE__ADMINS`` names someone and the console can tell who is asking (a trusted
header and the proxies it is believed from); one log line says where it is, or why it is off. It reads the
daemon's own database and acts through the daemon's inbox and guards: a retried dead letter wakes the
workers at once, and a pause is told to the admin channel like any other (see :mod:`bot.console`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.console.app import API, PAGES, Console, build_console, off_reason

if TYPE_CHECKING:
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
