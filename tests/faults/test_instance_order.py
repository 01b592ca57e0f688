"""One onboarding's events are processed in order, whichever of its tickets they concern (issue 14 §2).

Config sets CS Done the moment the bot's "please push live" comment lands (an automation always is that
quick). Its webhook arrives while the approval that wrote that comment is still being processed on SS,
before the approval is recorded: the two events are pending together. A second worker must not evaluate
CS's Done in that window (it would find no approval and only look again ten minutes later): CS belongs to
the onboarding of SS (the rule recorded it), so its event waits for SS's, and SS is closed on it at once.
"""

from __future__ import annotations

import copy
import threading

from bot.inbox.queue import DONE
from bot.state import StateStore
from bot.store import LIVE
from rules.everbright_onboarding import CS_DONE_AGAIN
from tests.faults.world import Step, World, recorded_steps

RULE = "everbright_onboarding"
STEPS = recorded_steps()
APPROVAL = STEPS[8]  # the approver's "Approved, go ahead with Helio Homes." on SS-103
CS_DONE = STEPS[11]  # a recorded "CS … status=Done" (CS-201's): replayed on SS-103's CS ticket


def _done(key: str, at_ms: int) -> Step:
    """Config's Done on ``key``, as Jira sends it (a delivery of its own)."""
    body = copy.deepcopy(CS_DONE.body)
    body["issue"]["key"] = key
    body["timestamp"] = at_ms
    return Step(len(STEPS), body)


def test_cs_done_right_after_the_approval_closes_ss_on_that_event_with_no_look_again(tmp_path, db_url):
    with World(tmp_path / "run", db_url=db_url) as world:
        for step in STEPS[: APPROVAL.index]:  # three onboardings up to CS on hold, the approval asked
            world.wait_until(step.at)
            world.act(step)
            world.deliver_until_acknowledged(step)
            world.process()
        world.wait_until(APPROVAL.at)
        states = StateStore(world.daemon.store)
        onboarding = states.get(LIVE, RULE, APPROVAL.key)
        assert onboarding is not None and onboarding.stage == "awaiting-approval"
        cs = onboarding.get("cs_key")
        done = _done(cs, APPROVAL.body["timestamp"])
        raced: list[tuple[int, bool]] = []

        def config(method: str, path: str, status: int) -> None:
            """Config, at machine speed: CS Done as soon as the bot asks to push live; another worker runs."""
            if (method, path) == ("POST", f"/rest/api/2/issue/{cs}/comment") and not raced:
                world.act(done, now=True)
                answer = world.deliver(done)
                other: list[bool] = []
                worker = threading.Thread(target=lambda: other.append(world.daemon.workers.run_once()))
                worker.start()
                worker.join(timeout=60)
                raced.append((answer, *other))

        world.jira.after.append(config)
        world.act(APPROVAL)
        world.deliver_until_acknowledged(APPROVAL)
        world.process()  # the approval, then (no time passing) CS's Done
        if not raced or raced[0][0] != 202:
            raise RuntimeError(f"the race did not happen as staged: {raced}")

        ss = world.state()["tickets"][APPROVAL.key]
        assert (ss["status"], ss["resolution"]) == ("Closed", "Done")
        assert world.clock.now() == APPROVAL.at  # no time passed: no timer in between
        assert [t.timer_id for t in states.timers(LIVE) if t.name == CS_DONE_AGAIN] == []
        assert states.get(LIVE, RULE, APPROVAL.key).stage == "closed"
        assert raced == [(202, False)]  # the other worker found nothing to take: CS's Done waited for SS's event
        closing = [t for t in world.daemon.store.traces(cs, scope=LIVE)
                   if any(e["step"] == "live:close" and e["outcome"] == "applied" for e in t.effects)]
        assert len(closing) == 1  # SS closed on CS's own Done event
        assert {r.status for r in world.inbox()} == {DONE}
