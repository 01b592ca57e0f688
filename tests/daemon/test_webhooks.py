"""Webhooks over real HTTP (uvicorn on loopback): signatures, bad input, redelivery, health, metrics."""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from bot.inbox.queue import DONE, IGNORED
from bot.inbox.spool import IntakeFile, intake_path
from bot.sources.jira_webhook import parse_jira_webhook
from bot.sources.signatures import jira_signature, zendesk_signature
from tests.support import daemon as harness

needs_contracts = pytest.mark.skipif(not harness.CONTRACTS.is_dir(), reason=harness.NO_CONTRACTS)


def _contract(name: str) -> dict:
    return json.loads((harness.CONTRACTS / name).read_text(encoding="utf-8"))


# Jira signatures -------------------------------------------------------------------------------------
@needs_contracts
def test_jira_signature_scheme_matches_the_documented_vector():
    vector = _contract("jira/webhook_signing_scheme.json")["locally_computed_vector_NOT_FROM_VENDOR"]
    assert jira_signature(vector["secret"], vector["raw_body"].encode()) == vector["X-Hub-Signature"]


@needs_contracts
def test_jira_signatures_valid_invalid_missing(make_daemon):
    daemon = make_daemon(harness.onboarding_site([]))
    vector = _contract("jira/webhook_signing_scheme.json")["locally_computed_vector_NOT_FROM_VENDOR"]
    with harness.live_server(daemon.app, lifespan="off") as url, httpx.Client(base_url=url) as client:
        # The vector's signature is accepted; its body has no issue, so it is then refused as not an event.
        r = client.post("/webhooks/jira", content=vector["raw_body"].encode(),
                        headers={"X-Hub-Signature": vector["X-Hub-Signature"]})
        assert r.status_code == 400 and "not a jira event" in r.json()["error"]
        for name, payload in harness.contract_payloads().items():
            body = harness.encode(payload)
            post = lambda content, headers: client.post("/webhooks/jira", content=content, headers=headers)  # noqa: E731
            assert post(body, harness.jira_headers(body)).status_code == 202, name
            assert post(body, harness.jira_headers(body, secret="not the secret")).status_code == 401
            assert post(body.replace(b'"key"', b'"key" ', 1), harness.jira_headers(body)).status_code == 401  # tampered
            assert post(body, {}).status_code == 401
            assert post(body, {"X-Hub-Signature": "sha1=" + harness.sign(body).split("=", 1)[1]}).status_code == 401
    # Some fixtures are edited copies of one event (same type, issue, timestamp, comment and changelog
    # ids): one identity, so one inbox row.
    distinct = {parse_jira_webhook(p).id for p in harness.contract_payloads().values()}
    assert len(daemon.inbox.rows()) == len(distinct) < len(harness.contract_payloads())


# Zendesk signatures ---------------------------------------------------------------------------------
@needs_contracts
def test_zendesk_signatures_valid_invalid_missing_stale(make_daemon, clock):
    examples = _contract("zendesk/webhook_signing_doc_examples.json")
    vector = examples["locally_computed_vector_NOT_FROM_VENDOR"]
    legacy = examples["legacy_doc_worked_example"]
    assert vector["signing_secret"] == harness.ZENDESK_SECRET
    daemon = make_daemon(harness.onboarding_site([]))
    body = vector["raw_body"].encode()
    signed = {"X-Zendesk-Webhook-Signature": vector["expected_signature_timestamp_plus_body"],
              "X-Zendesk-Webhook-Signature-Timestamp": vector["timestamp"]}
    with harness.live_server(daemon.app, lifespan="off") as url:
        post = lambda content, headers: httpx.post(f"{url}/webhooks/zendesk", content=content, headers=headers)  # noqa: E731
        clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        assert post(body, signed).status_code == 401  # a 2021 signature, five years later: stale
        clock._now = datetime(2021, 7, 25, 10, 1, tzinfo=UTC)  # noqa: SLF001 - back to the vector's time
        r = post(body, signed)  # signature good; {"say": "hello"} is not a Zendesk event
        assert r.status_code == 400 and "not a zendesk event" in r.json()["error"]
        assert post(body + b" ", signed).status_code == 401
        assert post(body, {"X-Zendesk-Webhook-Signature": signed["X-Zendesk-Webhook-Signature"]}).status_code == 401
        assert post(body, {}).status_code == 401
        legacy_headers = {"X-Zendesk-Webhook-Signature": legacy["expected_signature"],
                          "X-Zendesk-Webhook-Signature-Timestamp": legacy["timestamp"]}
        assert post(legacy["raw_body"].encode(), legacy_headers).status_code == 401  # body+timestamp order
        envelope = harness.encode(_contract("zendesk/webhook_event_envelope_doc_example.json")["payload"])
        stamp = clock.now().isoformat().replace("+00:00", "Z")
        fresh = {"X-Zendesk-Webhook-Signature": zendesk_signature(harness.ZENDESK_SECRET, envelope, stamp),
                 "X-Zendesk-Webhook-Signature-Timestamp": stamp}
        r = post(envelope, fresh)
        assert r.status_code == 202 and r.json()["status"] == "ignored"  # user.active_changed: not ours


def test_zendesk_trigger_body_is_queued(make_daemon, clock):
    daemon = make_daemon(harness.onboarding_site([]))
    body = harness.encode({"ticketbot": "zendesk-trigger/1", "event": "ticket.created",
                   "ticket": {"id": "123", "title": "EverBright Partner Onboarding"}})
    stamp = clock.now().isoformat()
    headers = {"X-Zendesk-Webhook-Signature": zendesk_signature(harness.ZENDESK_SECRET, body, stamp),
               "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    with harness.live_server(daemon.app, lifespan="off") as url:
        r = httpx.post(f"{url}/webhooks/zendesk", content=body, headers=headers)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert daemon.workers.drain() == 1  # no Zendesk tracker configured here: recorded, then set aside
    row = daemon.inbox.rows()[0]
    assert (row.status, row.ticket_key, row.note) == (IGNORED, "123", "no zendesk tracker configured")


# closed and opened endpoints -----------------------------------------------------------------------------
def test_without_secret_the_endpoints_refuse_everything(make_daemon):
    daemon = make_daemon(harness.onboarding_site([]), jira={"webhook_secret": None}, zendesk={"webhook_secret": None})
    body = harness.encode(harness.onboarding_created("SS-1", 1793610840000))
    with harness.live_server(daemon.app, lifespan="off") as url:
        for source in ("jira", "zendesk"):
            r = httpx.post(f"{url}/webhooks/{source}", content=body, headers=harness.jira_headers(body))
            assert r.status_code == 403, source
    assert daemon.inbox.rows() == []


def test_explicitly_opened_endpoint_accepts_unsigned_and_warns(make_daemon, caplog):
    daemon = make_daemon(harness.onboarding_site([]), jira={"webhook_secret": None, "allow_unsigned": True})
    body = harness.encode(harness.onboarding_created("SS-1", 1793610840000))
    with caplog.at_level(logging.WARNING, logger="bot.daemon.core"), harness.live_server(daemon.app) as url:
        assert httpx.post(f"{url}/webhooks/jira", content=body).status_code == 202
    assert any("/webhooks/jira accepts UNSIGNED requests" in r.getMessage() for r in caplog.records)
    assert not any("/webhooks/zendesk accepts" in r.getMessage() for r in caplog.records)


# bad input ----------------------------------------------------------------------------------------------
def test_bad_inputs(make_daemon):
    daemon = make_daemon(harness.onboarding_site([]))
    with harness.live_server(daemon.app, lifespan="off") as url:
        jira = f"{url}/webhooks/jira"
        huge = b'{"webhookEvent": "jira:issue_created", "pad": "' + b"x" * (1024 * 1024) + b'"}'
        assert httpx.post(jira, content=huge, headers=harness.jira_headers(huge)).status_code == 413

        def chunks():  # no Content-Length: the limit is enforced while reading
            for _ in range(17):
                yield b"x" * 65536

        assert httpx.post(jira, content=chunks(), headers={"X-Hub-Signature": "sha256=00"}).status_code == 413
        for not_json in (b"not json", b"\xff\xfe", b""):
            assert httpx.post(jira, content=not_json, headers=harness.jira_headers(not_json)).status_code == 400
        for not_event in (b"[1, 2]", b'{"hello": 1}', b'{"webhookEvent": "jira:issue_created"}'):
            r = httpx.post(jira, content=not_event, headers=harness.jira_headers(not_event))
            assert r.status_code == 400, not_event
        unknown = harness.encode({"webhookEvent": "jira:version_released", "timestamp": 1793610840000,
                          "version": {"id": "1", "name": "1.0"}})
        r = httpx.post(jira, content=unknown, headers=harness.jira_headers(unknown))
        assert r.status_code == 202 and r.json()["status"] == "ignored"
        assert httpx.post(jira, content=unknown, headers=harness.jira_headers(unknown)).json()["status"] == "duplicate"
    rows = daemon.inbox.rows()
    assert [(r.status, r.note) for r in rows] == [(IGNORED, "unknown event type 'jira:version_released'")]
    assert daemon.workers.drain() == 0  # recorded, never processed


# redelivery ----------------------------------------------------------------------------------------------
def _deliveries(keys: list[str], with_contracts: bool) -> list[tuple[bytes, dict[str, str]]]:
    """Each distinct event once, as (body, headers); half carry Jira's delivery id, half rely on the digest."""
    events = []
    for n, key in enumerate(keys):
        for build, offset in ((harness.onboarding_created, 0), (harness.onboarding_updated, 60_000)):
            body = harness.encode(build(key, 1793610840000 + 1000 * n + offset))
            events.append((body, harness.jira_headers(body, f"delivery-{key}-{offset}" if n % 2 else None)))
    if with_contracts:
        events += [
            (harness.encode(p), harness.jira_headers(harness.encode(p))) for p in harness.contract_payloads().values()
        ]
    return events


@pytest.mark.parametrize("through_intake_file", [False, True], ids=["inbox", "intake-file"])
def test_each_event_delivered_one_to_five_times_shuffled_makes_one_set_of_effects(make_daemon, through_intake_file):
    keys = [f"SS-{i}" for i in range(1, 7)]
    with_contracts = harness.CONTRACTS.is_dir()
    others = harness.contract_ticket_keys() if with_contracts else []
    daemon = make_daemon(harness.onboarding_site(keys, others=others))
    if through_intake_file:  # as under `ticketbot run` on SQLite: webhooks land in the intake file, a mover
        spool = intake_path(daemon.settings.database_url)  # (here: after each new one) puts them in the inbox
        daemon.inbox.receive_through(IntakeFile(spool))
        mover = IntakeFile(spool)
        daemon.inbox.on_notify.append(lambda: daemon.inbox.move_from(mover))
    events = _deliveries(keys, with_contracts)
    rng = random.Random(20261102)
    deliveries = [e for e in events for _ in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)
    distinct = {parse_jira_webhook(json.loads(b), headers=h).id for b, h in events}

    with harness.live_server(daemon.app) as url, httpx.Client(base_url=url) as client, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda d: client.post("/webhooks/jira", content=d[0], headers=d[1]).status_code,
                                 deliveries))
        assert set(statuses) == {202}
        harness.wait_until(lambda: daemon.inbox.depth() == 0)

    rows = daemon.inbox.rows()
    assert len(rows) == len(distinct)
    assert {r.status for r in rows} <= {DONE, IGNORED}
    log = daemon.handler.trackers["jira"].changes()
    assert sum("organization 'Sunpeak Solar' created" in line for line in log) == 1
    for key in keys:
        assert sorted(line for line in harness.lines_of(log, key) if "created" not in line) == sorted(
            harness.INTAKE_LINES
        ), key
        ticket = daemon.handler.trackers["jira"].get_ticket(key, with_people=True)
        assert ticket.organizations == ("Sunpeak Solar",)
        assert ticket.reporter.email == "onboarding@goeverbright.com"
        assert sorted(w.email for w in ticket.watchers) == ["david.ellis@goeverbright.com",
                                                            "tom.becker@goeverbright.com"]
        assert ticket.participants == ()
    assert all(not harness.lines_of(log, key) for key in others)  # the contract tickets are not onboarding forms
    # Not processed twice either: one trace per evaluated event (deleted events are not evaluated).
    traces = daemon.store.traces(limit=10_000)
    assert len(traces) == len({t.event_id for t in traces})
    # (a comment's inbox key names the comment, its trace the delivery that was taken)
    evaluated = {parse_jira_webhook(r.envelope["body"], headers=r.envelope["headers"]).id for r in rows
                 if r.kind != "ticket.deleted"}
    assert {t.event_id for t in traces} == evaluated


# health and metrics ----------------------------------------------------------------------------------------
def test_health_and_metrics(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]))
    body = harness.encode(harness.onboarding_created("SS-1", 1793610840000))
    with harness.live_server(daemon.app) as url:
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 200
        report = health.json()
        assert report["database"] == "ok" and report["workers"]["alive"]
        assert report["scheduler"] == {
            "alive": True,
            "leader": True,
            "running": True,
            "jobs": ["inbox-sweep", "timer-sweep"],
        }
        assert httpx.post(f"{url}/webhooks/jira", content=body, headers=harness.jira_headers(body)).status_code == 202
        assert httpx.post(f"{url}/webhooks/jira", content=b"{", headers=harness.jira_headers(b"{")).status_code == 400
        harness.wait_until(lambda: daemon.inbox.depth() == 0)
        metrics = httpx.get(f"{url}/metrics").text
    for line in ('ticketbot_events_received_total{outcome="queued",source="jira"} 1.0',
                 'ticketbot_events_received_total{outcome="bad_request",source="jira"} 1.0',
                 'ticketbot_events_processed_total{rule="everbright_onboarding",source="jira"} 1.0',
                 'ticketbot_effects_total{outcome="applied",type="add_watcher"} 2.0',
                 "ticketbot_inbox_depth 0.0",
                 'ticketbot_api_calls_total{system="jira"} 0.0',
                 'ticketbot_api_rate_limited_total{system="jira"} 0.0',
                 'ticketbot_processing_latency_seconds_count{source="jira"} 1.0'):
        assert line in metrics, line
    assert "ticketbot_events_failed_total" in metrics


def test_health_is_503_when_the_database_is_gone(make_daemon, tmp_path):
    daemon = make_daemon(harness.onboarding_site([]))
    with harness.live_server(daemon.app) as url:
        (tmp_path / "ticketbot.sqlite3").unlink()
        (tmp_path / "ticketbot.sqlite3").mkdir()  # the path is no longer a database file
        # Only now drop the pooled connections: one an idle worker opened between a dispose and the
        # unlink would still reach the unlinked file (a race of the test, seen under load).
        daemon.store.engine.dispose()
        r = httpx.get(f"{url}/healthz")
        # the file check comes first and names what happened (a directory now stands at the file's path)
        assert r.status_code == 503 and r.json()["database"].endswith(
            "ticketbot.sqlite3 was replaced while ticketbot runs: restart ticketbot to use the new file"
        )
        (tmp_path / "ticketbot.sqlite3").rmdir()
