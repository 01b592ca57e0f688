"""HTTP calls per EverBright intake against the minimum the Jira API allows.

Runs the real pipeline (rule → executor → JiraTracker on the `jira` library) against the
stateful fake Jira (tests/fakes/fake_jira.py) for N onboarding tickets and prints the calls
of the first intake (cold caches), of a later one (warm caches) and of a re-run on a
processed ticket. The minimum is explained in the README ("Benchmarks").

    .venv/bin/python benchmarks/intake_calls.py [N]
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.clock import VirtualClock  # noqa: E402
from bot.model import MANUAL, TICKET_CREATED, Event  # noqa: E402
from bot.pipeline import Processor  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.trackers.jira.adapter import JiraTracker  # noqa: E402
from bot.trackers.site import Site  # noqa: E402
from rules import load_rules  # noqa: E402
from tests.fakes.fake_jira import FakeJira, site_with_tickets  # noqa: E402

#: Warm caches, an existing organization: GET issue (with fields), GET watchers (to check
#: state before writing), one PUT edit for all four fields, one POST per watcher (Jira's
#: watcher API takes one user a call) = 5. The participant check rides on the issue GET.
MINIMUM_WARM = 5
#: Cold: + GET /field, user searches for reporter, approver, account manager (3),
#: service desk, request types, organization lookup (3), editmeta for the select option = 13.
MINIMUM_COLD = 13


def main(n: int = 20) -> None:
    form = "Installer name: Brightside Installers\nInstaller contact email: ops@sunpeaksolar.example"
    tickets = [{"key": f"SS-{i}", "summary": "EverBright Partner Onboarding", "description": form,
                "status": "Waiting for support", "issue_type": "Service Request",
                "reporter": "ops@sunpeaksolar.example"} for i in range(1, n + 1)]
    site = site_with_tickets(Site.load(ROOT / "examples/everbright/site.yaml"), tickets)
    clock = VirtualClock(datetime(2026, 11, 2, tzinfo=UTC))
    with FakeJira(site) as fake:
        jira = JiraTracker(fake.base_url, "ticketbot@goeverbright.com", "benchmark-token", sleep=clock.sleep)
        processor = Processor(load_rules(ROOT / "config/ticketbot.yaml"), jira, Store("sqlite://"), clock)
        per_ticket = []
        for i in range(1, n + 1):
            before = sum(jira.calls.values())
            processor.process(Event(id=f"e{i}", source="bench", kind=TICKET_CREATED, ticket_key=f"SS-{i}",
                                    occurred_at=clock.now()))
            per_ticket.append(sum(jira.calls.values()) - before)
        before = sum(jira.calls.values())
        writes_before = len(fake.writes)
        processor.process(Event(id="rerun", source="bench", kind=MANUAL, ticket_key="SS-1", occurred_at=clock.now()))
        rerun_calls, rerun_writes = sum(jira.calls.values()) - before, len(fake.writes) - writes_before
    warm = sum(per_ticket[1:]) / max(1, len(per_ticket) - 1)
    print(f"intakes: {n}")
    print(f"first intake (cold caches): {per_ticket[0]} calls; minimum {MINIMUM_COLD}; "
          f"ratio {per_ticket[0] / MINIMUM_COLD:.2f}")
    print(f"later intakes (warm caches): {warm:.1f} calls each; minimum {MINIMUM_WARM}; "
          f"ratio {warm / MINIMUM_WARM:.2f}")
    print(f"re-run on a processed ticket: {rerun_calls} calls, {rerun_writes} writes")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
