"""``/ticketbot console`` as the bot answers it (:meth:`BotServices.console_link`): a link bound to the person's
e-mail in Slack that signs them in to this console; refusals said and audited."""

from __future__ import annotations

import pytest

from bot.ops.audit import DONE, REFUSED, AuditLog
from bot.ops.services import BotServices
from bot.slack.services import ServiceError
from rules import load_rules
from tests.console.conftest import ADMIN, press_sign_in, set_cookie

PUBLIC = "https://ticketbot.goeverbright.example"


class People:
    def __init__(self, emails: dict[str, str]) -> None:
        self.emails = emails

    def slack_id_for(self, email: str) -> str | None:
        return next((k for k, v in self.emails.items() if v == email), None)

    def email_for(self, slack_user_id: str) -> str | None:
        return self.emails.get(slack_user_id)


def _services(console, sign_in=True) -> BotServices:  # noqa: ANN001
    return BotServices(store=console.store, inbox=console.inbox, rules=load_rules(console.settings.config),
                       clock=console.clock, guards=console.guards,
                       people=People({"UANN": ADMIN, "UCAROL": "carol@goeverbright.example"}),
                       sign_in=console.console.sign_in if sign_in else None,
                       console_admins=console.settings.console.admins)


def _audit(console) -> list[tuple[str, str, str, str, str]]:  # noqa: ANN001
    return [(e.actor, e.via, e.command, e.outcome, e.detail) for e in AuditLog(console.store, console.clock).entries()]


def test_the_link_signs_the_person_in_to_the_console(open_console):
    console = open_console(trusted_header="", trusted_proxies="", public_url=PUBLIC)
    reply = _services(console).console_link("UANN")
    assert f"for {ADMIN.lower()} alone: {PUBLIC}/console/sign-in/" in reply and "works once, until" in reply
    url = reply.split(": ", 1)[1].split()[0]
    response = press_sign_in(console.client, url.removeprefix(PUBLIC))
    assert response.status_code == 303
    cookie = set_cookie(response)[0]
    assert console.get("/api/v1/session", who=None, headers={"cookie": cookie}).json()["email"] == ADMIN.lower()
    [issued, signed_in] = _audit(console)
    assert issued[:4] == ("UANN", "slack", "console", DONE) and ADMIN.lower() in issued[4]
    assert signed_in[:4] == (ADMIN.lower(), "console", "sign in", DONE)


@pytest.mark.parametrize(("user", "sign_in", "said", "why"), [
    ("UCAROL", True, "is not one of the console's admins", "carol@goeverbright.example is not a console admin"),
    ("UNOBODY", True, "Slack does not tell me your e-mail address", "Slack did not say the person's e-mail address"),
    ("UANN", False, "takes no sign-in links here", "the console takes no sign-in links here"),
])
def test_refusals_are_said_and_audited(open_console, user, sign_in, said, why):
    console = open_console(public_url=PUBLIC)
    with pytest.raises(ServiceError, match=said):
        _services(console, sign_in=sign_in).console_link(user)
    assert _audit(console) == [(user, "slack", "console", REFUSED, why)]
    with console.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from console_sign_in_links").scalar() == 0
