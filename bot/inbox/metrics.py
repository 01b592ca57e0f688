"""Prometheus metrics of one daemon, in registries of its own (several apps can live in one test).

Counters are incremented where things happen (webhook endpoints, workers); values that
live elsewhere (inbox depth in the database, HTTP calls counted by the tracker adapters)
are read at scrape time by a collector, so they are never stale.

Worker processes (``ticketbot run``) count through prometheus_client's multiprocess mode: each child
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (set for the children by
:func:`bot.daemon.serve.run`), and the HTTP process serves them, summed, beside its own
(:meth:`Metrics.serve_processing_from`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.pipeline import ProcessReport

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Processing latency buckets (seconds): from "at once" to "after retries".
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class Metrics:
    """Two registries: *ingest* (served by the HTTP process) and *processing* (where workers run).

    When the workers run in child processes, their processing metrics reach the HTTP process through
    prometheus_client's multiprocess files (:meth:`serve_processing_from`): the two registries never
    define the same metric, so their texts concatenate into one valid exposition.
    """

    def __init__(self) -> None:
        self.ingest = CollectorRegistry(auto_describe=True)
        self.processing = CollectorRegistry(auto_describe=True)
        i, p = self.ingest, self.processing
        self.received = Counter("ticketbot_events_received", "Webhook/poll events received, by outcome",
                                ["source", "outcome"], registry=i)
        self.ack = Histogram("ticketbot_webhook_ack_seconds", "Webhook handling time until the answer",
                             ["source"], buckets=ACK_BUCKETS, registry=i)
        self.processed = Counter("ticketbot_events_processed", "Events evaluated, by source and rule",
                                 ["source", "rule"], registry=p)
        self.failed = Counter("ticketbot_events_failed", "Event evaluations that failed, by source and rule "
                              "(rule '-' : the event failed before any rule ran)", ["source", "rule"], registry=p)
        self.effects = Counter("ticketbot_effects", "Effects by type and outcome", ["type", "outcome"], registry=p)
        self.dead_lettered = Counter("ticketbot_events_dead_lettered", "Events given up after their last attempt",
                                     ["source"], registry=p)
        self.held = Counter("ticketbot_events_held", "Tries of events that met their system unavailable (an outage): "
                            "put back without spending an attempt", ["source", "system"], registry=p)
        self.latency = Histogram("ticketbot_processing_latency_seconds", "From receipt to processed",
                                 ["source"], buckets=LATENCY_BUCKETS, registry=p)
        self._live = _LiveCollector()
        i.register(self._live)
        self.foreign_processing: Callable[[], bytes] | None = None

    def watch(self, *, inbox_depth: Callable[[], int], api_counters: Mapping[str, Any],
              more_api_counts: Callable[[], Mapping[str, Mapping[str, float]]] | None = None) -> None:
        """Values read at scrape time: the inbox depth and each system's adapter counters
        (plus ``more_api_counts``: ``{system: {"calls": n, "throttled": m}}`` from a worker process)."""
        self._live.inbox_depth = inbox_depth
        self._live.api_counters = dict(api_counters)
        self._live.more_api_counts = more_api_counts

    def observe_report(self, source: str, report: ProcessReport) -> None:
        for rule in report.rules:
            self.processed.labels(source, rule.rule_id).inc()
            if rule.result.error or any(o.status == "failed" for o in rule.outcomes):
                self.failed.labels(source, rule.rule_id).inc()
            for outcome in rule.outcomes:
                self.effects.labels(outcome.effect.kind, outcome.status).inc()

    def render(self) -> bytes:
        processing = self.foreign_processing() if self.foreign_processing else generate_latest(self.processing)
        return generate_latest(self.ingest) + processing

    def serve_processing_from(self, directory: Path) -> None:
        """Serve the processing metrics the worker processes write to ``directory`` (multiprocess mode),
        summed over the processes, instead of this process's own."""
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))
        self.foreign_processing = lambda: generate_latest(registry)


def api_counts(adapters: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{system: {"calls": n, "throttled": m}}`` from the adapters' own counters."""
    return {system: {"calls": _total(getattr(a, "calls", None)), "throttled": _total(getattr(a, "throttled", None))}
            for system, a in adapters.items()}


class _LiveCollector(Collector):
    """Inbox depth and API call / 429 counts, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.inbox_depth: Callable[[], int] | None = None
        self.api_counters: dict[str, Any] = {}
        self.more_api_counts: Callable[[], Mapping[str, Mapping[str, float]]] | None = None

    def describe(self) -> list:
        return []  # values appear once wired; describing nothing keeps registration lazy

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("ticketbot_inbox_depth", "Events received and not yet finished")
        if self.inbox_depth is not None:
            try:
                depth.add_metric([], self.inbox_depth())
            except Exception:  # a scrape must not fail because the database hiccups
                log.warning("could not read the inbox depth for /metrics", exc_info=True)
        yield depth
        counts = api_counts(self.api_counters)
        for system, more in (self.more_api_counts() if self.more_api_counts else {}).items():
            mine = counts.setdefault(system, {"calls": 0.0, "throttled": 0.0})
            for name in ("calls", "throttled"):
                mine[name] += float(more.get(name, 0.0))
        calls = CounterMetricFamily("ticketbot_api_calls", "HTTP calls to each system", labels=["system"])
        throttled = CounterMetricFamily("ticketbot_api_rate_limited", "429 answers from each system",
                                        labels=["system"])
        for system, values in sorted(counts.items()):
            calls.add_metric([system], values["calls"])
            throttled.add_metric([system], values["throttled"])
        yield calls
        yield throttled


def _total(counter: Any) -> float:
    """An adapter's counter: a number, or a Counter/dict of numbers (e.g. per method and path)."""
    if counter is None:
        return 0.0
    if isinstance(counter, int | float):
        return float(counter)
    if isinstance(counter, Mapping):
        return float(sum(counter.values()))
    return 0.0
