"""Signing in to the console without a proxy: personal sign-in links, and the sessions they start.

``/ticketbot console`` in Slack (admins only, see :mod:`bot.slack.commands`) asks :meth:`SignIn.issue` for a
link bound to the person's e-mail address (Slack's record of them): ``<public_url>/console/sign-in/<token>``.
The token is 32 random bytes; the database keeps only its SHA-256 (``console_sign_in_links``), with the
e-mail, when it expires (``TICKETBOT_CONSOLE__SIGN_IN_MINUTES``) and when it was used. Following the link
shows a page with one button; pressing it (a POST, so a link preview or a prefetch that only GETs cannot
spend it) :meth:`SignIn.redeem`\\ s the token in one conditional UPDATE (unused and unexpired: two tabs
racing get one session) and starts a session. The page also leaves a random value in a short-lived cookie of
its own (:meth:`SignIn.nonce_cookie`: HttpOnly, SameSite=Strict) and the button's form carries a CSRF token
bound to it and to the link (:meth:`bot.console.access.CsrfTokens.for_sign_in`): a POST without both is
refused and the link stays unspent, so no other site can sign a browser in with a link of its own.

A session is another random token, kept as its SHA-256 in ``console_sessions`` with the e-mail, its end
(``TICKETBOT_CONSOLE__SESSION_HOURS``) and, once revoked (sign-out, ``ticketbot console --sign-out``), when.
The browser holds it in a cookie: ``HttpOnly``, ``SameSite=Lax`` (or ``Strict``), ``Path=/``, with
``Max-Age``, and ``Secure`` with the ``__Host-`` name prefix unless ``TICKETBOT_CONSOLE__COOKIE_SECURE`` is
false (plain http on localhost). :class:`SessionCookie` is the identity source that reads it: a session
that ended is refused (401 with the sign-in hint), a live one is the person, whom the gate still checks
against ``TICKETBOT_CONSOLE__ADMINS`` on every request (an admin removed from the list is locked out at
once). POSTs still need their CSRF token.

Migration 0011 creates both tables. Neither a link nor a session can be recovered from the database.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sqlalchemy import DateTime, Index, String, delete, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.console.access import Identity, Refusal, Scope
from bot.store import Base, Store

log = logging.getLogger(__name__)

COOKIE = "ticketbot-console"
#: ``__Host-``: the browser accepts it only Secure, from this very host, for Path=/ (no Domain can widen it).
SECURE_COOKIE = "__Host-ticketbot-console"
#: The sign-in page's cookie: the random value its form's CSRF token is bound to (see the module).
NONCE_COOKIE = "ticketbot-console-sign-in"
#: Ended links and sessions are forgotten this long after they end.
KEEP_ENDED = timedelta(days=30)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class SignInLinkRow(Base):
    __tablename__ = "console_sign_in_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    via: Mapped[str] = mapped_column(String(200))


class SessionRow(Base):
    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_email", "email"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    via: Mapped[str] = mapped_column(String(200))


@dataclass(frozen=True)
class Link:
    url: str
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value (never stored)
    email: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """What :func:`secrets.token_urlsafe` makes: 43 URL-safe characters (anything else is not looked up)."""
    return len(token) == 43 and set(token) <= _TOKEN_CHARS


class SignIn:
    """Issues sign-in links, redeems them into sessions, looks sessions up and ends them."""

    def __init__(self, store: Store, clock: Clock, *, public_url: str, link_lifetime: timedelta,
                 session_lifetime: timedelta, secure: bool = True, samesite: str = "lax",
                 pages: str = "/console") -> None:
        self.store = store
        self.clock = clock
        self.public_url = public_url.rstrip("/")
        self.link_lifetime = link_lifetime
        self.session_lifetime = session_lifetime
        self.secure = secure
        self.samesite = samesite
        self.pages = pages
        self.cookie_name = SECURE_COOKIE if secure else COOKIE
        self.nonce_cookie_name = f"__Host-{NONCE_COOKIE}" if secure else NONCE_COOKIE

    # links ---------------------------------------------------------------------------------------
    def issue(self, email: str, via: str) -> Link:
        """A new single-use link for ``email`` (lower-cased), valid for :attr:`link_lifetime`."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + self.link_lifetime
        with self.store.session() as s, s.begin():
            s.execute(delete(SignInLinkRow).where(SignInLinkRow.expires_at < now - KEEP_ENDED))
            s.add(SignInLinkRow(token_hash=digest(token), email=email.strip().casefold(), issued_at=now,
                                expires_at=expires, via=via[:200]))
        return Link(f"{self.public_url}{self.pages}/sign-in/{token}", email.strip().casefold(), expires)

    def pending(self, token: str) -> tuple[str, datetime] | Refusal:
        """The e-mail a link would sign in and when the link expires (without spending it), or why it would not."""
        row = self._link(token)
        if isinstance(row, Refusal):
            return row
        return row.email, _aware(row.expires_at)

    def redeem(self, token: str, via: str = "sign-in link") -> Session | Refusal:
        """Spend the link (once, before it expires) and start a session for its e-mail."""
        found = self._link(token)
        if isinstance(found, Refusal):
            return found
        now = self.clock.now()
        with self.store.session() as s, s.begin():
            spent = s.execute(update(SignInLinkRow).where(
                SignInLinkRow.token_hash == digest(token), SignInLinkRow.used_at.is_(None),
                SignInLinkRow.expires_at > now).values(used_at=now))
            if spent.rowcount != 1:  # type: ignore[attr-defined]  # another request spent it first
                return Refusal("this sign-in link has been used already")
            session = Session(secrets.token_urlsafe(32), found.email, now + self.session_lifetime)
            s.execute(delete(SessionRow).where(SessionRow.expires_at < now - KEEP_ENDED))
            s.add(SessionRow(token_hash=digest(session.token), email=found.email, started_at=now,
                             expires_at=session.expires_at, via=f"{via} ({found.via})"[:200]))
        return session

    def _link(self, token: str) -> SignInLinkRow | Refusal:
        if not well_formed(token):
            return Refusal("this is not a sign-in link ticketbot made")
        with self.store.session() as s:
            row = s.get(SignInLinkRow, digest(token))
        if row is None:
            return Refusal("this is not a sign-in link ticketbot made")
        if row.used_at is not None:
            return Refusal("this sign-in link has been used already")
        if _aware(row.expires_at) <= self.clock.now():
            return Refusal("this sign-in link has expired")
        return row

    # sessions ------------------------------------------------------------------------------------
    def session_of(self, token: str) -> SessionRow | Refusal:
        ended = Refusal("your console session has ended (expired, signed out or revoked)")
        if not well_formed(token):
            return ended
        with self.store.session() as s:
            row = s.get(SessionRow, digest(token))
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= self.clock.now():
            return ended
        return row

    def sign_out(self, token: str) -> bool:
        """End one session (the cookie's); False when it was not live."""
        with self.store.session() as s, s.begin():
            done = s.execute(update(SessionRow).where(SessionRow.token_hash == digest(token),
                                                      SessionRow.revoked_at.is_(None))
                             .values(revoked_at=self.clock.now()))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def revoke(self, email: str) -> int:
        """End every live session of ``email`` and spend its unused links; how many sessions ended."""
        now = self.clock.now()
        email = email.strip().casefold()
        with self.store.session() as s, s.begin():
            done = s.execute(update(SessionRow).where(SessionRow.email == email, SessionRow.revoked_at.is_(None),
                                                      SessionRow.expires_at > now).values(revoked_at=now))
            s.execute(update(SignInLinkRow).where(SignInLinkRow.email == email, SignInLinkRow.used_at.is_(None))
                      .values(used_at=now))
        return int(done.rowcount)  # type: ignore[attr-defined]

    # the cookie ------------------------------------------------------------------------------------
    def cookie(self, session: Session) -> str:
        """The ``Set-Cookie`` value that hands ``session`` to the browser."""
        seconds = max(0, int((session.expires_at - self.clock.now()).total_seconds()))
        return self._cookie(session.token, seconds, session.expires_at)

    def cleared_cookie(self) -> str:
        return self._cookie("", 0, datetime(1970, 1, 1, tzinfo=UTC))

    def nonce_cookie(self, nonce: str) -> str:
        """The sign-in page's cookie (SameSite=Strict), for as long as a link lives."""
        seconds = int(self.link_lifetime.total_seconds())
        return self._cookie(nonce, seconds, self.clock.now() + self.link_lifetime, name=self.nonce_cookie_name,
                            samesite="strict")

    def cleared_nonce_cookie(self) -> str:
        return self._cookie("", 0, datetime(1970, 1, 1, tzinfo=UTC), name=self.nonce_cookie_name, samesite="strict")

    def _cookie(self, value: str, max_age: int, expires: datetime, *, name: str = "", samesite: str = "") -> str:
        parts = [f"{name or self.cookie_name}={value}", "Path=/", f"Max-Age={max_age}",
                 f"Expires={expires.astimezone(UTC):%a, %d %b %Y %H:%M:%S GMT}", "HttpOnly",
                 f"SameSite={(samesite or self.samesite).capitalize()}"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def token_in(self, scope: Scope) -> str | None:
        """The session token the request's cookie holds, if any."""
        return _cookie_value(scope, self.cookie_name)

    def nonce_in(self, scope: Scope) -> str | None:
        """The sign-in page's value the request's cookie holds, if it is one ticketbot could have made."""
        nonce = _cookie_value(scope, self.nonce_cookie_name)
        return nonce if nonce is not None and well_formed(nonce) else None


def _cookie_value(scope: Scope, wanted: str) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except CookieError:
            continue
        if wanted in jar:
            return jar[wanted].value
    return None


class SessionCookie:
    """The identity source of sessions started by a sign-in link (see the module)."""

    def __init__(self, sign_in: SignIn, minutes: float) -> None:
        self.sign_in = sign_in
        self.hint = (f"Ask for a sign-in link in Slack with /ticketbot console (admins only): it is yours "
                     f"alone, works once and for {minutes:g} minutes.")

    def identify(self, scope: Scope) -> Identity | Refusal | None:
        token = self.sign_in.token_in(scope)
        if token is None:
            return None
        found = self.sign_in.session_of(token)
        if isinstance(found, Refusal):
            return found
        return Identity(found.email, f"session until {_aware(found.expires_at):%Y-%m-%d %H:%M} UTC")


def _aware(value: Any) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
