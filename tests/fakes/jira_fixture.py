"""The spec-checked fake Jira as test fixtures use it: the tracker contract suite and the Jira adapter tests.

:func:`spec_checked_jira` starts a :class:`~tests.fakes.fake_jira.FakeJira` that checks every request
against Atlassian's OpenAPI specs (when ``../shared/contracts`` is there) and, when the block ends
without an error, asserts the adapter sent nothing the specs do not describe, got no answer the specs
do not describe, and called nothing the fake does not serve. :func:`tracker_on` is the Jira adapter
pointed at it, its rate-limit waits recorded instead of slept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.site import Site
from tests.fakes.fake_jira import FakeJira, load_specs


def assert_contract_kept(fake: FakeJira) -> None:
    assert fake.violations == [], "requests that Atlassian's spec does not describe"
    assert fake.response_violations == [], "the fake answered with shapes the spec does not describe"
    assert fake.unserved == [], "endpoints the fake does not serve"


@contextmanager
def spec_checked_jira(site: Site, **options: Any) -> Iterator[FakeJira]:
    """A started fake Jira for ``site`` (``options``: FakeJira's, e.g. ``now``, ``page_size``)."""
    with FakeJira(site, specs=load_specs(), **options) as fake:
        yield fake
        assert_contract_kept(fake)


def tracker_on(fake: FakeJira, email: str, token: str, *, slept: list[float], max_retries: int = 2) -> JiraTracker:
    """The Jira adapter on the fake; every wait it asks for is appended to ``slept``, none is slept."""
    return JiraTracker(fake.base_url, email, token, max_retries=max_retries, sleep=slept.append)
