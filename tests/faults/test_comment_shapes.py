"""One comment, two shapes: the approver's "Approved" counts once, however Jira delivers it.

A Jira webhook subscribed to "Comment created" delivers a comment as ``comment_created``; one
subscribed to "Issue updated" delivers the same comment as ``jira:issue_updated`` with
``issue_event_type_name: issue_commented`` (the ``comment`` object in the body, no changelog),
under its own webhook identifier, a timestamp of its own and another signed body. A site may
subscribe either or both (the README asks for both).

The EverBright world (tests/faults/world.py) plays the recorded stream; at the approver's comment
the tests below deliver one shape, the other, or both in either order, and compare the fake Jira's
and Slack's final state, and the writes Jira received, with the clean run's.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.inbox.queue import DONE
from bot.sources.jira_webhook import parse_jira_webhook
from bot.state import StateStore
from bot.store import LIVE
from tests.faults.world import APPROVER, World, clean_run, diff
from tests.support.daemon import encode, jira_headers

Shape = Callable[["World", int], list[tuple[bytes, str]]]


def _approval(world: World) -> int:
    """The step of the approver's comment (the recorded ``comment_created``)."""
    [index] = [s.index for s in world.steps if s.body["webhookEvent"] == "comment_created"
               and s.body["comment"]["author"]["emailAddress"] == APPROVER]
    return index


def issue_commented(body: dict) -> dict:
    """The ``comment_created`` body as the "Issue updated" webhook delivers the same comment: another
    webhook event and type name, ``user`` (the commenter), no changelog, Jira's clock a few ms on."""
    other = copy.deepcopy(body)
    other["webhookEvent"] = "jira:issue_updated"
    other["issue_event_type_name"] = "issue_commented"
    other["user"] = copy.deepcopy(body["comment"]["author"])
    other["timestamp"] = body["timestamp"] + 7
    other.pop("changelog", None)
    return other


def comment_created(world: World, step: int) -> tuple[bytes, str]:
    return world.steps[step].raw(), world.steps[step].delivery


def commented(world: World, step: int) -> tuple[bytes, str]:
    return encode(issue_commented(world.steps[step].body)), f"{world.steps[step].delivery}-issue-updated"


def play(world: World, shapes: Callable[[World, int], list[tuple[bytes, str]]]) -> list[str]:
    """The clean run, except that the approval comment reaches the bot in ``shapes``; returns the
    status the intake answered for each of those deliveries."""
    approval, answers = _approval(world), []
    for step in world.steps:
        world.wait_until(step.at)
        world.act(step)
        if step.index != approval:
            world.deliver_until_acknowledged(step)
        else:
            for raw, delivery in shapes(world, step.index):
                headers = {k.lower(): v for k, v in jira_headers(raw, delivery).items()}
                reply = world.daemon.intake.receive("jira", raw, headers)
                assert reply.status == 202, reply.body
                answers.append(reply.body["status"])
        world.process()
    world.wait_until(world.end())
    return answers


def ends_as_clean(world: World, clean_state: dict, clean_writes: list) -> None:
    assert diff(clean_state, world.state()) == []
    assert Counter(world.writes()) == Counter(clean_writes), "Jira received other writes than a clean run's"
    assert {r.status for r in world.inbox()} == {DONE}


def approvals(world: World) -> list[dict]:
    """The decisions the onboarding of the approved ticket recorded."""
    states = StateStore(world.daemon.store)
    key = world.steps[_approval(world)].key
    state = states.get(LIVE, "everbright_onboarding", key)
    assert state is not None
    return [state.get("decision")] if state.get("decision") else []


@pytest.mark.parametrize("first_shape", ["comment_created", "issue_commented"])
def test_both_shapes_of_one_approval_comment_count_once(tmp_path: Path, first_shape: str):
    """Both webhooks subscribed: the comment arrives twice, under two identifiers and two bodies. The
    second is answered ``duplicate``, the approval is recorded once, and Jira and Slack end exactly as
    after a clean single delivery (the reminders stopped, Config asked once, one approval note)."""
    clean = clean_run(tmp_path / "clean")

    def both(world: World, step: int) -> list[tuple[bytes, str]]:
        shapes = [comment_created(world, step), commented(world, step)]
        return shapes if first_shape == "comment_created" else shapes[::-1]

    with World(tmp_path / "run") as world:
        assert play(world, both) == ["queued", "duplicate"]
        ends_as_clean(world, clean.state, clean.writes)
        assert len(approvals(world)) == 1
        rows = [r for r in world.inbox() if r.ticket_key == world.steps[_approval(world)].key
                and r.kind == "comment.created"]
        assert len(rows) == 1


def test_the_issue_updated_shape_alone_is_the_approval(tmp_path: Path):
    """Only "Issue updated" subscribed: the approver's comment arrives as ``issue_commented``. It is the
    approval (not a plain update that changes nothing): the world ends as the clean run ends, with no
    further reminder and no admin alert."""
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run") as world:
        assert play(world, lambda w, step: [commented(w, step)]) == ["queued"]
        ends_as_clean(world, clean.state, clean.writes)
        assert approvals(world)[0]["approved"] is True


def test_were_both_shapes_processed_the_rule_would_not_act_twice(tmp_path: Path):
    """Beneath the inbox's dedup: were the second shape committed under a key of its own (a database
    holding keys made before comments were keyed by the comment), the rule's recorded stage and the
    executor's effect keys still make it change nothing."""
    clean = clean_run(tmp_path / "clean")

    def both_as_two_events(world: World, step: int) -> list[tuple[bytes, str]]:
        raw, _ = commented(world, step)
        body = issue_commented(world.steps[step].body)
        event = parse_jira_webhook(body)
        envelope = {"source": "jira", "headers": {}, "body": body, "received_at": world.clock.now().isoformat()}
        assert world.daemon.inbox.add(key="jira:pre-upgrade-key", source="jira", event=event, envelope=envelope)
        return [comment_created(world, step)]

    with World(tmp_path / "run") as world:
        play(world, both_as_two_events)
        ends_as_clean(world, clean.state, clean.writes)
        assert len(approvals(world)) == 1
        # Both were evaluated as the approver's comment; the first wrote, the second found it all done.
        key = world.steps[_approval(world)].key
        comments = [t for t in world.daemon.store.traces(key, limit=10_000) if t.event_kind == "comment.created"]
        assert len(comments) == 2
        assert [any(e["outcome"] == "applied" for e in t.effects) for t in comments] == [True, False]
