"""Worker processes' metrics reach /metrics through prometheus_client's multiprocess files, summed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.inbox.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
from bot.inbox.metrics import Metrics
metrics = Metrics()
metrics.processed.labels("jira", "everbright_onboarding").inc({n})
metrics.latency.labels("jira").observe(0.2)
"""


def _child(directory: Path, n: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", CHILD.format(n=n)], env=env, cwd=ROOT, check=True, timeout=60)


def test_the_http_process_serves_the_sum_of_its_worker_processes(tmp_path):
    _child(tmp_path, 2)
    _child(tmp_path, 3)  # another process (a restarted worker): its counts add up, none is lost
    metrics = Metrics()
    metrics.received.labels("jira", "accepted").inc()
    metrics.serve_processing_from(tmp_path)
    text = metrics.render().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("ticketbot_events_processed_total", (("rule", "everbright_onboarding"), ("source", "jira")))] == 5
    assert samples[("ticketbot_processing_latency_seconds_count", (("source", "jira"),))] == 2
    assert samples[("ticketbot_events_received_total", (("outcome", "accepted"), ("source", "jira")))] == 1
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "a metric is described twice"
