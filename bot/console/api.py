"""The console's JSON API, under ``/api/v1``: the data of the pages, and the same actions.

``GET``: ``/session`` (who you are, and the CSRF token the POSTs need), ``/board``, ``/instances/{key}``,
``/timers``, ``/dead-letters``, ``/rules``, ``/charts``, ``/audit``. ``POST`` (header ``X-CSRF-Token``):
``/dead-letters/{id}/retry``, ``/rules/{rule}/pause``, ``/rules/{rule}/resume``; they answer
``{"done": …, "message": …}`` with 200, or 404 (no such dead letter or rule), 409 (already paused,
not paused), 403 (no valid CSRF token). Times are ISO 8601 in UTC. The README documents each answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.console.access import IDENTITY, Identity, csrf_problem
from bot.console.actions import Outcome
from bot.console.queries import MAX_PAGE, PAGE, BoardFilter
from bot.ops.audit import DONE, DUPLICATE, REFUSED
from bot.trackers.keys import InvalidKey, normalize_key

Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def build_api(console: Any) -> FastAPI:
    """The API of ``console`` (a :class:`bot.console.app.Console`) as an app to mount at ``/api/v1``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    queries = console.queries

    @app.get("/session")
    def session(request: Request) -> dict[str, Any]:
        identity: Identity = request.scope[IDENTITY]
        return {"email": identity.email, "via": identity.via, "csrf_token": console.csrf.issue(identity),
                "csrf_header": "X-CSRF-Token", "scope": queries.scope}

    @app.get("/board")
    def board(runbook: str = "", stage: str = "", person: str = "", q: str = "",
              closed_days: Annotated[int, Query(ge=0, le=366)] = 0, offset: Offset = 0,
              per_stage: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 25) -> dict[str, Any]:
        wanted = BoardFilter(runbook=runbook, stage=stage if runbook else "", person=person[:200], q=q[:200],
                             closed_days=closed_days, offset=offset, per_stage=per_stage)
        return queries.board(wanted).as_dict()

    @app.get("/instances/{key}")
    def instance(key: str, before: Annotated[int | None, Query(ge=1)] = None, all_rules: bool = False) -> Any:
        try:
            key = normalize_key(key)
        except InvalidKey as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        found = queries.instance(key, before=before, all_rules=all_rules)
        if isinstance(found, str):  # a member of another ticket's instance: that instance
            found = queries.instance(found, before=before, all_rules=all_rules)
        if found is None or isinstance(found, str):
            return JSONResponse({"error": f"ticketbot has no record of {key}"}, status_code=404)
        return {**found.as_dict(), "asked_for": key}

    @app.get("/timers")
    def timers(rule: str = "", ticket: str = "", offset: Offset = 0, limit: Limit = PAGE) -> dict[str, Any]:
        return queries.timers(rule=rule, key=ticket, offset=offset, limit=limit).as_dict()

    @app.get("/dead-letters")
    def dead_letters(offset: Offset = 0, limit: Limit = PAGE) -> dict[str, Any]:
        return queries.dead_letters(offset=offset, limit=limit).as_dict()

    @app.get("/rules")
    def rules() -> dict[str, Any]:
        caps = queries.caps
        return {"caps": {"max_writes_per_ticket_10min": caps.max_writes_per_ticket_10min,
                         "max_tickets_per_rule_hour": caps.max_tickets_per_rule_hour},
                "rules": [r.as_dict() for r in queries.rules()]}

    @app.get("/charts")
    def charts() -> dict[str, Any]:
        return console.charts.charts().as_dict()

    @app.get("/audit")
    def audit(q: str = "", outcome: str = "", before: Annotated[int | None, Query(ge=1)] = None,
              limit: Limit = PAGE) -> Any:
        if outcome and outcome not in (DONE, DUPLICATE, REFUSED):
            return JSONResponse({"error": f"outcome is one of {DONE}, {DUPLICATE}, {REFUSED}"}, status_code=422)
        entries, older = queries.audit(q=q[:200], outcome=outcome, before=before, limit=limit)
        return {"entries": [e.as_dict() for e in entries], "older": older}

    async def act(request: Request, command: str, action: Callable[[Identity], Outcome]) -> JSONResponse:
        identity: Identity = request.scope[IDENTITY]
        problem = await csrf_problem(request, console.csrf, identity)
        if problem:
            await run_in_threadpool(console.actions.refused, command, identity, problem)
            return JSONResponse({"done": False, "error": problem}, status_code=403)
        outcome = await run_in_threadpool(action, identity)
        return JSONResponse({"done": outcome.done, "message": outcome.message}, status_code=outcome.status)

    @app.post("/dead-letters/{row_id}/retry")
    async def retry(request: Request, row_id: int) -> JSONResponse:
        return await act(request, f"retry dead letter {row_id}",
                         lambda who: console.actions.retry_dead_letter(row_id, who))

    @app.post("/rules/{rule_id}/pause")
    async def pause(request: Request, rule_id: str) -> JSONResponse:
        return await act(request, f"pause {rule_id[:100]}", lambda who: console.actions.pause(rule_id, who))

    @app.post("/rules/{rule_id}/resume")
    async def resume(request: Request, rule_id: str) -> JSONResponse:
        return await act(request, f"resume {rule_id[:100]}", lambda who: console.actions.resume(rule_id, who))

    return app
