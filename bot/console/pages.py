"""The console's pages: HTML made on the server from Jinja2 templates (autoescaped), no JavaScript.

Board (``/``), one ticket's timeline (``/ticket/KEY``), timers, dead letters (with Retry), rules (with
Pause and Resume), charts (SVG drawn here, see :mod:`bot.console.charts`) and the audit log; and, past the
gate, the sign-in link's page (:func:`build_sign_in`). Paths here are relative to where the app is mounted
(``/console``); links are made from the mount point the request came through (its ``root_path``).

A button is a form that POSTs, with the CSRF token in a hidden field; after it the browser is sent back
to the list (303) with a notice code, which the page turns into one of the sentences it knows
(:data:`bot.console.actions.NOTICES`): nothing from the URL is shown as text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from bot.console.access import CSRF_FIELD, IDENTITY, Identity, Refusal, cross_site, csrf_problem, form_field
from bot.console.actions import CONSOLE, NOTICES, Outcome
from bot.console.charts import SAMPLE, WEEKS, Chart, duration_text, svg
from bot.console.queries import BoardFilter
from bot.ops.audit import DONE, DUPLICATE, REFUSED
from bot.ops.report import value_text
from bot.trackers.keys import InvalidKey, normalize_key

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = Path(__file__).parent / "static" / "console.css"
#: Periods the board's "closed" toggle offers, in days.
CLOSED_PERIODS = (1, 7, 30, 90)
_SUBJECT = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, span=span, value=value_text, ago=ago)
    env.globals.update(query=query, draw=draw, duration=duration_text)
    return env


def build_pages(console: Any) -> FastAPI:
    """The pages of ``console`` (a :class:`bot.console.app.Console`) as an app to mount at ``/console``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    env = environment()
    queries = console.queries
    stylesheet = STYLESHEET.read_text(encoding="utf-8")

    def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        identity: Identity = request.scope[IDENTITY]
        page = {"base": base_of(request), "identity": identity, "csrf": console.csrf.issue(identity),
                "csrf_field": CSRF_FIELD, "scope": queries.scope, "now": queries.now(),
                "dead_count": queries.dead_letter_count(), "template": template,
                "notice": notice(request.query_params.get("notice"), request.query_params.get("subject"))}
        return HTMLResponse(env.get_template(template).render({**page, **context}), status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def board(request: Request, runbook: str = "", stage: str = "", person: str = "", q: str = "",
              closed: Annotated[int, Query(ge=0, le=366)] = 0,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
        if "/" in stage:  # the stage list names "rule/stage": a stage belongs to a runbook
            picked, _, stage = stage.partition("/")
            runbook = runbook or picked
        wanted = BoardFilter(runbook=runbook.strip(), stage=stage.strip() if runbook else "", person=person[:200],
                             q=q[:200], closed_days=closed, offset=offset)
        return render(request, "board.html", board=queries.board(wanted), periods=CLOSED_PERIODS)

    @app.get("/ticket/{key}", response_class=HTMLResponse)
    def ticket(request: Request, key: str, before: Annotated[int | None, Query(ge=1)] = None,
               all_rules: Annotated[bool, Query(alias="all")] = False) -> Response:
        try:
            key = normalize_key(key)
        except InvalidKey as exc:
            return render(request, "missing.html", status=404, what=str(exc))
        found = queries.instance(key, before=before, all_rules=all_rules)
        if isinstance(found, str):  # a member of another ticket's instance: show that one
            return RedirectResponse(f"{base_of(request)}/ticket/{found}", status_code=303)
        if found is None:
            return render(request, "missing.html", status=404, what=f"ticketbot has no record of {key}.")
        return render(request, "ticket.html", view=found)

    @app.get("/timers", response_class=HTMLResponse)
    def timers(request: Request, rule: str = "", ticket: str = "",
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
        page = queries.timers(rule=rule.strip(), key=_key_or_blank(ticket), offset=offset)
        return render(request, "timers.html", page=page, rule=rule, ticket=ticket,
                      rules=[s.rule_id for s in queries.shapes()])

    @app.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters(request: Request, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
        return render(request, "dead_letters.html", page=queries.dead_letters(offset=offset))

    @app.get("/rules", response_class=HTMLResponse)
    def rules(request: Request) -> HTMLResponse:
        return render(request, "rules.html", rules=queries.rules(), caps=queries.caps)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, q: str = "", outcome: str = "",
              before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
        outcome = outcome if outcome in (DONE, DUPLICATE, REFUSED) else ""
        entries, older = queries.audit(q=q[:200], outcome=outcome, before=before)
        return render(request, "audit.html", entries=entries, older=older, q=q, outcome=outcome,
                      outcomes=(DONE, DUPLICATE, REFUSED))

    @app.get("/charts", response_class=HTMLResponse)
    async def charts(request: Request) -> HTMLResponse:
        found = await run_in_threadpool(console.charts.charts)
        return render(request, "charts.html", charts=found, sample=SAMPLE, weeks=WEEKS)

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        identity: Identity = request.scope[IDENTITY]
        problem = await csrf_problem(request, console.csrf, identity)
        if problem:
            await run_in_threadpool(console.actions.refused, "sign out", identity, problem)
            return render(request, "refused.html", status=403, reason=problem, back="/")
        sign_in = console.sign_in
        token = sign_in.token_in(request.scope) if sign_in is not None else None
        if sign_in is None or token is None:
            return render(request, "refused.html", status=409, reason="you are signed in through the proxy, not a "
                          "session of the console: sign out there", back="/")
        await run_in_threadpool(sign_in.sign_out, token)
        await run_in_threadpool(console.actions.audit.record, actor=identity.email, via=CONSOLE, command="sign out",
                                outcome=DONE, detail="session ended")
        page = env.get_template("signed_out.html").render(base=base_of(request))
        return HTMLResponse(page, headers={"set-cookie": sign_in.cleared_cookie()})

    @app.get("/static/console.css")
    def css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"cache-control": "private, max-age=3600"})

    async def act(request: Request, command: str, back: str, action: Callable[[Identity], Outcome]) -> Response:
        identity: Identity = request.scope[IDENTITY]
        problem = await csrf_problem(request, console.csrf, identity)
        if problem:
            await run_in_threadpool(console.actions.refused, command, identity, problem)
            return render(request, "refused.html", status=403, reason=problem, back=back)
        outcome = await run_in_threadpool(action, identity)
        after = urlencode({"notice": outcome.code, "subject": outcome.subject})
        return RedirectResponse(f"{base_of(request)}{back}?{after}", status_code=303)

    @app.post("/dead-letters/{row_id}/retry")
    async def retry(request: Request, row_id: int) -> Response:
        return await act(request, f"retry dead letter {row_id}", "/dead-letters",
                         lambda who: console.actions.retry_dead_letter(row_id, who))

    @app.post("/rules/{rule_id}/pause")
    async def pause(request: Request, rule_id: str) -> Response:
        return await act(request, f"pause {rule_id[:100]}", "/rules", lambda who: console.actions.pause(rule_id, who))

    @app.post("/rules/{rule_id}/resume")
    async def resume(request: Request, rule_id: str) -> Response:
        return await act(request, f"resume {rule_id[:100]}", "/rules",
                         lambda who: console.actions.resume(rule_id, who))

    return app


def build_sign_in(console: Any) -> FastAPI:
    """``/sign-in/<token>``: the page a sign-in link opens (GET: who it signs in, and a button; nothing is
    spent), and the button's POST, which spends the link and starts the session (the cookie), then sends the
    browser to the board. An expired, used or unknown link is 401 with how to get a new one; a link of someone
    who is no longer an admin is 403; a POST from another site, or without the page's cookie and the CSRF token
    bound to it, is 403 and leaves the link unspent. All are audited, as is each sign-in."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    env = environment()
    sign_in = console.sign_in
    hint = " ".join(source.hint for source in console.sources)
    stylesheet = STYLESHEET.read_text(encoding="utf-8")
    minutes = int(sign_in.link_lifetime.total_seconds() // 60)
    hours = f"{sign_in.session_lifetime.total_seconds() / 3600:g}"

    def page(request: Request, status: int, **context: Any) -> HTMLResponse:
        values = {"base": base_of(request), "email": "", "token": "", "reason": "", "hint": hint, "hours": hours,
                  "expires": "", "csrf": "", "csrf_field": CSRF_FIELD, "title": "Sign in to the ticketbot console",
                  **context}
        return HTMLResponse(env.get_template("sign_in.html").render(values), status_code=status)

    def refuse(request: Request, refusal: Refusal, status: int = 401, who: str = "") -> HTMLResponse:
        console.actions.audit.record(actor=who or "unknown", via=CONSOLE, command="sign in", outcome=REFUSED,
                                     detail=refusal.reason)
        response = page(request, status, reason=refusal.reason,
                        title="Sign in to the ticketbot console" if status == 401 else "Not an admin")
        if status == 401:
            response.headers["www-authenticate"] = 'SignInLink realm="ticketbot console"'
        return response

    @app.get("/sign-in/console.css")
    def css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"cache-control": "private, max-age=3600"})

    @app.get("/sign-in/{token}", response_class=HTMLResponse)
    def show(request: Request, token: str) -> HTMLResponse:
        found = sign_in.pending(token)
        if isinstance(found, Refusal):
            return refuse(request, found)
        email, expires = found
        if email not in console.admins:
            return refuse(request, Refusal(f"{email} is not a ticketbot admin"), 403, email)
        # A value this browser holds already is kept: a second link opened in another tab leaves the first's
        # button working.
        nonce = sign_in.nonce_in(request.scope) or secrets.token_urlsafe(32)
        response = page(request, 200, email=email, token=token,
                        csrf=console.csrf.for_sign_in(token, nonce),
                        expires=f"at {expires:%H:%M} UTC ({minutes} minutes after it was made)")
        response.headers.append("set-cookie", sign_in.nonce_cookie(nonce))
        return response

    @app.post("/sign-in/{token}")
    async def redeem(request: Request, token: str) -> Response:
        if cross_site(request.scope.get("headers", ())):
            return await run_in_threadpool(refuse, request, Refusal("the sign-in was posted by another site"), 403)
        field = await form_field(request, CSRF_FIELD)
        return await run_in_threadpool(start, request, token, field)

    def start(request: Request, token: str, field: str | None) -> Response:
        found = sign_in.pending(token)
        if isinstance(found, Refusal):
            return refuse(request, found)
        email = found[0]
        if email not in console.admins:
            return refuse(request, Refusal(f"{email} is not a ticketbot admin"), 403, email)
        if not console.csrf.valid_for_sign_in(token, sign_in.nonce_in(request.scope), field):
            return refuse(request, Refusal("the sign-in form came without its CSRF token or this browser's cookie "
                                           "(cookies blocked, or the form was posted from elsewhere): open the "
                                           "link again and press the button; the link is still good"), 403, email)
        session = sign_in.redeem(token)
        if isinstance(session, Refusal):
            return refuse(request, session, who=email)
        console.actions.audit.record(actor=email, via=CONSOLE, command="sign in", outcome=DONE,
                                     detail=f"through a sign-in link; session until "
                                            f"{session.expires_at:%Y-%m-%d %H:%M} UTC")
        response = RedirectResponse(f"{base_of(request)}/", status_code=303)
        response.headers.append("set-cookie", sign_in.cookie(session))
        response.headers.append("set-cookie", sign_in.cleared_nonce_cookie())
        return response

    return app


def draw(chart: Chart) -> Markup:
    """A chart's SVG for a template (:func:`bot.console.charts.svg` escapes every text it writes)."""
    return Markup(svg(chart))  # noqa: S704 - made of escaped text only


def base_of(request: Request) -> str:
    """Where the pages are mounted, as the request reached them (``/console``)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def notice(code: str | None, subject: str | None) -> str:
    if not code or code not in NOTICES:
        return ""
    return NOTICES[code].format(subject=subject if subject and _SUBJECT.fullmatch(subject) else "?")


def _key_or_blank(text: str) -> str:
    try:
        return normalize_key(text) if text.strip() else ""
    except InvalidKey:
        return text.strip()[:64]


# template helpers -------------------------------------------------------------------------------------
def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "—"


def span(value: timedelta | None) -> str:
    """``2d 4h``, ``3h 20m``, ``45m`` (a negative span is written as its size)."""
    if value is None:
        return "—"
    seconds = abs(int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def ago(value: datetime | None, now: datetime) -> str:
    """``in 3h 20m`` or ``2d 4h ago``."""
    if value is None:
        return "—"
    delta = value - now
    return f"in {span(delta)}" if delta >= timedelta(0) else f"{span(delta)} ago"


def query(current: Mapping[str, Any], **changes: Any) -> str:
    """A query string: ``current`` with ``changes`` (a None or '' value drops the parameter)."""
    merged = {**current, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", 0, False)})
