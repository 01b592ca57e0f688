"""The weekly digest: what the runbooks did this week, posted to the admin channel in Slack.

In flight (per runbook), overdue (with the first few keys), closed this week, and the slowest stage, with a
link to the board (``TICKETBOT_CONSOLE__PUBLIC_URL``). It goes on ``TICKETBOT_CONSOLE__DIGEST_DAY`` at
``__DIGEST_HOUR`` o'clock on the admin calendar (``TICKETBOT_CONSOLE__ADMIN_CALENDAR``: its time zone, and
its working days and holidays: a digest day that is no working day moves to the next working day).

The leader's scheduler runs :meth:`WeeklyDigest.run_once` every few minutes (``console-digest``, see
:func:`bot.daemon.console.schedule_digest`); it does nothing until this week's moment has come, then claims
the week in ``console_digests`` (an INSERT of the week's id: one replica wins), posts, and marks it sent.
So the digest goes once a week across restarts and replicas, and a leader that was down at the hour sends
it when it is back, within the same week. A post that fails releases the claim (the next run tries again);
a claim left by a process that died mid-way is taken over after :data:`STALE_CLAIM`, and the message is
first looked for in the channel (its marker, as the executor finds a message sent before a crash), so it
is not posted twice.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import DateTime, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.console.charts import duration_text, stage_chart
from bot.settings import ConfigurationError, ConsoleSettings
from bot.store import Base, Store

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: A claim this old that was never marked sent belongs to a process that died mid-way.
STALE_CLAIM = timedelta(minutes=30)
#: How often the leader looks whether the digest is due (seconds).
CHECK_EVERY = 300
OVERDUE_NAMED = 5


class DigestRow(Base):
    __tablename__ = "console_digests"
    week: Mapped[str] = mapped_column(String(16), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def admin_calendar(settings: ConsoleSettings) -> BusinessCalendar:
    """``TICKETBOT_CONSOLE__ADMIN_CALENDAR`` as a calendar, or a ConfigurationError naming the key."""
    try:
        return BusinessCalendar(**settings.admin_calendar)
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()
        raise ConfigurationError(f"TICKETBOT_CONSOLE__ADMIN_CALENDAR: {' '.join(first[:3])}") from None


@dataclass(frozen=True)
class Schedule:
    """The digest's moment in each week: a weekday and an hour on a calendar."""

    day: int  # Monday = 0
    hour: int
    calendar: BusinessCalendar

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> Schedule:
        return cls(DAYS.index(settings.digest_day), settings.digest_hour, admin_calendar(settings))

    def this_week(self, now: datetime) -> tuple[str, datetime]:
        """The id (``2026-W49``) and moment of the digest of the week ``now`` is in (the calendar's week)."""
        zone = self.calendar.zone
        local = now.astimezone(zone).date()
        monday = local - timedelta(days=local.weekday())
        day = monday + timedelta(days=self.day)
        for _ in range(14):  # a holiday or a day off moves it to the next working day
            if self.calendar.is_working_day(day):
                break
            day += timedelta(days=1)
        year, week, _ = monday.isocalendar()
        moment = datetime.combine(day, time(self.hour), tzinfo=zone).astimezone(UTC)
        return f"{year}-W{week:02d}", moment

    def describe(self) -> str:
        return f"{DAYS[self.day].capitalize()} {self.hour:02d}:00 {self.calendar.time_zone}"


class WeeklyDigest:
    """Composes the digest from the console's read model and posts it once a week (see the module)."""

    def __init__(self, queries: Any, store: Store, clock: Clock, schedule: Schedule, *,
                 post: Callable[[str, str], object], find_sent: Callable[[str], bool] | None = None,
                 board_url: str = "") -> None:
        self.queries = queries
        self.store = store
        self.clock = clock
        self.schedule = schedule
        self.post = post  # (week, text); raises when the message did not go
        self.find_sent = find_sent  # week -> the week's message is in the channel already
        self.board_url = board_url
        self.me = f"{socket.gethostname()}:{os.getpid()}"[:100]

    def run_once(self) -> bool:
        """Post this week's digest if its moment has come and nobody has; True when this call posted it."""
        now = self.clock.now()
        week, moment = self.schedule.this_week(now)
        if now < moment or not self._claim(week, now):
            return False
        try:
            if self.find_sent is not None and self._was_taken_over(week) and self.find_sent(week):
                log.info("console digest %s: found in the admin channel already (a process died after posting)",
                         week)
            else:
                self.post(week, self.compose(now))
        except Exception:
            log.exception("console digest %s: not posted; trying again at the next run", week)
            self._release(week)
            return False
        with self.store.session() as s, s.begin():
            s.execute(update(DigestRow).where(DigestRow.week == week).values(sent_at=self.clock.now()))
        log.info("console digest %s posted to the admin channel", week)
        return True

    def _claim(self, week: str, now: datetime) -> bool:
        with self.store.session() as s:
            row = s.get(DigestRow, week)
        if row is None:
            try:
                with self.store.session() as s, s.begin():
                    s.add(DigestRow(week=week, claimed_at=now, claimed_by=self.me))
                return True
            except IntegrityError:  # another replica claimed it a moment ago
                return False
        if row.sent_at is not None or _aware(row.claimed_at) > now - STALE_CLAIM:
            return False
        with self.store.session() as s, s.begin():  # a stale claim: take it over (one replica wins)
            taken = s.execute(update(DigestRow).where(DigestRow.week == week, DigestRow.sent_at.is_(None),
                                                      DigestRow.claimed_at == row.claimed_at)
                              .values(claimed_at=now, claimed_by=f"{self.me} (took over)"[:100]))
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    def _was_taken_over(self, week: str) -> bool:
        with self.store.session() as s:
            row = s.get(DigestRow, week)
        return row is not None and row.claimed_by.endswith("(took over)")

    def _release(self, week: str) -> None:
        with self.store.session() as s, s.begin():
            s.execute(delete(DigestRow).where(DigestRow.week == week, DigestRow.sent_at.is_(None)))

    # the text ------------------------------------------------------------------------------------------
    def compose(self, now: datetime) -> str:
        """The digest as plain text (the notifier escapes it for Slack; the link is auto-linked)."""
        q = self.queries
        week_start, monday = _week_start(now, self.schedule.calendar)
        counts = q._counts()
        shapes = q.shapes(counts)
        lines = [f"*ticketbot weekly digest* (week of {monday:%d %b %Y})"]
        in_flight = [(s, sum(n for (r, st), n in counts.items() if r == s.rule_id and not s.is_final(st)))
                     for s in shapes]
        total = sum(n for _, n in in_flight)
        lines.append(f"In flight: {total}" + (" (" + ", ".join(f"{s.title} {n}" for s, n in in_flight if n) + ")"
                                              if total else ""))
        overdue = q.overdue_instances(limit=OVERDUE_NAMED)
        named = ", ".join(f"{key} ({rule})" for rule, key in overdue.named)
        lines.append(f"Overdue: {overdue.count}" + (f": {named}" + (" …" if overdue.count > len(overdue.named)
                                                                    else "") if overdue.count else ""))
        closed = q.closed_since(week_start)
        lines.append(f"Closed this week: {sum(closed.values())}"
                     + (" (" + ", ".join(f"{title} {n}" for title, n in closed.items() if n) + ")"
                        if any(closed.values()) else ""))
        lines.append(f"Slowest stage: {self._slowest(shapes, now)}")
        if self.board_url:
            lines.append(f"Board: {self.board_url}")
        return "\n".join(lines)

    def _slowest(self, shapes: Any, now: datetime) -> str:
        from bot.console.charts import ChartQueries

        charts = ChartQueries(self.queries)
        best: tuple[float, str] | None = None
        for shape in shapes:
            chart = stage_chart(shape, charts._sample(shape.rule_id), now)
            if chart is None:
                continue
            for bar in chart.bars:
                if bar.value and (best is None or bar.value > best[0]):
                    best = (bar.value, f"{shape.title}: {bar.label}, median {duration_text(bar.value)} "
                                       f"({bar.note})")
        return best[1] if best else "none yet (no instance has left a stage)"


def _week_start(now: datetime, calendar: BusinessCalendar) -> tuple[datetime, date]:
    local = now.astimezone(calendar.zone).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=calendar.zone).astimezone(UTC), monday


def sent_weeks(store: Store) -> list[str]:
    """The weeks whose digest went (oldest first): for tests and ``ticketbot console`` to show."""
    with store.session() as s:
        return list(s.scalars(select(DigestRow.week).where(DigestRow.sent_at.is_not(None)).order_by(DigestRow.week)))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
