"""The in-memory tracker refuses a bad write whole, as Jira does: nothing of it is applied; the shared one keeps
a public reply public across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.effects import AddWatcher, SetField
from bot.trackers.base import NotFound, TrackerError
from bot.trackers.memory import MemoryTracker
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import Site

SITE = Path(__file__).resolve().parents[2] / "examples" / "everbright" / "site.yaml"
NEEDS_CONFIG = "Needs Configuration?"


@pytest.fixture
def site() -> tuple[MemoryTracker, str]:
    tracker = MemoryTracker(Site.load(SITE))
    return tracker, tracker.create_ticket("SS", "Service Request", "EverBright Partner Onboarding")


def test_a_transition_with_an_unknown_resolution_changes_nothing(site: tuple[MemoryTracker, str]) -> None:
    tracker, key = site
    before = tracker.get_ticket(key)
    with pytest.raises(NotFound, match="resolution 'Fixed-ish' not found"):
        tracker.transition(key, "Closed", "Fixed-ish")
    after = tracker.get_ticket(key)
    assert (after.status, after.resolution) == (before.status, before.resolution)
    tracker.transition(key, "Closed", "Done")
    assert (tracker.get_ticket(key).status, tracker.get_ticket(key).resolution) == ("Closed", "Done")


def test_an_edit_holding_a_non_field_effect_is_refused_before_any_change(site: tuple[MemoryTracker, str]) -> None:
    tracker, key = site
    good = SetField(rule_id="r", ticket_key=key, step="s", field=NEEDS_CONFIG, value="Integrated Finance")
    stray = AddWatcher(rule_id="r", ticket_key=key, step="w", email="david.ellis@goeverbright.com")
    with pytest.raises(TrackerError, match="add_watcher is not a field change"):
        tracker.update_fields(key, [good, stray])
    assert tracker.get_ticket(key).fields.get(NEEDS_CONFIG) is None
    tracker.update_fields(key, [good])
    assert tracker.get_ticket(key).fields[NEEDS_CONFIG] == "Integrated Finance"


def test_the_shared_tracker_keeps_a_public_reply_public_across_processes(tmp_path: Path) -> None:
    state = tmp_path / "site.state.sqlite3"
    writer = SharedMemoryTracker(Site.load(SITE), state)
    key = writer.create_ticket("SS", "Service Request", "EverBright Partner Onboarding")
    writer.add_internal_comment(key, "internal note")
    reply_id = writer.add_public_reply(key, "Your account is ready.")
    reader = SharedMemoryTracker(Site.load(SITE), state)  # another process on the same state file
    comments = reader.get_ticket(key).comments
    assert [(c.body, c.internal) for c in comments] == [("internal note", True), ("Your account is ready.", False)]
    assert comments[-1].id == reply_id
    assert reader.changes()[-1] == f"{key}: public reply: Your account is ready."


@pytest.mark.parametrize("value", ["maria.lopez@goeverbright.com", "acc-maria", "MARIA"])
def test_an_assignment_in_a_replayed_event_names_the_assignee(site: tuple[MemoryTracker, str], value: str) -> None:
    tracker, key = site
    tracker.site.users[0] = tracker.site.users[0].model_copy(update={"account_id": "acc-maria",
                                                                      "email": "maria.lopez@goeverbright.com"})
    tracker.apply_external_change(key, "assignee", value)
    assignee = tracker.get_ticket(key).assignee
    if value == "MARIA":  # neither an e-mail nor a known account: unassigned, never a made-up person
        assert assignee is None
    else:
        assert assignee is not None and assignee.email == "maria.lopez@goeverbright.com"
