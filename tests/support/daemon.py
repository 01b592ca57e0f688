"""Shared pieces of the daemon tests: sites, real payloads, signatures, live servers, subprocess daemons."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from bot.daemon.core import Daemon
from bot.model import User
from bot.settings import Settings
from bot.trackers.jira.model import FieldCatalog
from bot.trackers.site import Site, SiteTicket, jira_field_json
from tests.support.paths import EVERBRIGHT_ONLY, ROOT, SHARED

CONFIG = EVERBRIGHT_ONLY  # one rule: the tests count traces and writes per event
EXAMPLES = ROOT / "examples" / "everbright"
CONTRACTS = SHARED / "contracts"
NO_CONTRACTS = f"{CONTRACTS} is absent: the vendors' real payloads are needed (set TICKETBOT_SHARED_DIR)"
SECRET = "It's a Secret to Everybody"
FORM = "Installer name: Sunpeak Solar\nInstaller contact email: ops@sunpeaksolar.example"

#: What the intake writes on a fresh onboarding ticket (besides creating the organization once).
INTAKE_LINES = [
    "organizations = ['Sunpeak Solar']",
    "reporter = onboarding@goeverbright.com",
    "request type = 'Company-specific Data Change'",
    "Needs Configuration? = 'Integrated Finance'",
    "watcher + tom.becker@goeverbright.com",
    "watcher + david.ellis@goeverbright.com",
    "participant - ops@sunpeaksolar.example",
]


# sites ----------------------------------------------------------------------------------------------
def onboarding_site(keys: list[str], *, others: list[str] = ()) -> Site:
    """The demo site with an onboarding form ticket per key, and plain tickets for ``others``."""
    site = Site.load(EXAMPLES / "site.yaml")
    for key in keys:
        site.tickets.append(SiteTicket(key=key, summary="EverBright Partner Onboarding", description=FORM,
                                       status="Waiting for support", issue_type="Service Request",
                                       reporter="ops@sunpeaksolar.example",
                                       participants=["ops@sunpeaksolar.example"]))
    for key in others:
        site.tickets.append(SiteTicket(key=key, summary="Something else", status="Open"))
    return site


def write_site(path: Path, site: Site) -> Path:
    path.write_text(yaml.safe_dump(site.model_dump(by_alias=True)), encoding="utf-8")
    return path


def lines_of(log: list[str], key: str) -> list[str]:
    prefix = f"{key}: "
    return [line.removeprefix(prefix) for line in log if line.startswith(prefix)]


# payloads ---------------------------------------------------------------------------------------------
def _example_created() -> dict[str, Any]:
    for line in (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("//"):
            return json.loads(line)
    raise AssertionError("examples/everbright/events.jsonl has no event")


_TEMPLATE = _example_created()


def onboarding_created(key: str, ts_ms: int) -> dict[str, Any]:
    """A recorded JSM ``jira:issue_created`` body (examples/everbright) retargeted at ``key``."""
    body = copy.deepcopy(_TEMPLATE)
    body["timestamp"] = ts_ms
    body["issue"]["key"] = key
    body["issue"]["id"] = str(20000 + int(key.rsplit("-", 1)[1]))
    body["issue"]["fields"]["description"] = FORM
    return body


def onboarding_updated(key: str, ts_ms: int) -> dict[str, Any]:
    """The same ticket, edited by a person (a labels change)."""
    body = onboarding_created(key, ts_ms)
    body["webhookEvent"] = "jira:issue_updated"
    body["issue_event_type_name"] = "issue_updated"
    body["changelog"] = {"id": str(ts_ms), "items": [{"field": "labels", "fieldtype": "jira", "from": None,
                                                       "fromString": "", "to": None, "toString": "partner"}]}
    return body


def contract_payloads() -> dict[str, dict[str, Any]]:
    """Every real Jira Cloud webhook body in ../shared/contracts, by file name."""
    folder = CONTRACTS / "jira" / "webhooks"
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def contract_ticket_keys() -> list[str]:
    return sorted({b["issue"]["key"] for b in contract_payloads().values() if isinstance(b.get("issue"), dict)})


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def jira_headers(body: bytes, delivery: str | None = None, secret: str = SECRET) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign(body, secret)}
    if delivery:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    return headers


# servers ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@contextmanager
def live_server(app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback port in a thread; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None, lifespan=lifespan,
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class DaemonProcess:
    """``python -m bot.cli run`` as a subprocess (what ``ticketbot run`` runs)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKETBOT_")},
                    "TICKETBOT_HTTP__PORT": str(self.port), "TICKETBOT_CONFIG": str(CONFIG),
                    "TICKETBOT_CHECK__AT_START": "false",  # the start-up check has its own tests
                    "TMPDIR": str(log_path.parent), **env}  # what a killed process leaves stays in tmp_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> DaemonProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=self.env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self._ready, timeout=timeout, interval=0.1)
        except BaseException:  # a daemon that never became ready is not left running (with its workers)
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200  # workers up too
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int:
        """SIGKILL takes the whole process group (a crash, the OOM killer, ``docker kill``); other
        signals go to the main process only, as ``docker stop`` sends SIGTERM to PID 1."""
        assert self.proc is not None
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the worker children too
            self.proc.wait(timeout=10)


# settings and PostgreSQL ------------------------------------------------------------------------
ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
PG_ADMIN_URL = os.environ.get("TICKETBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def daemon_settings(db_url: str, **overrides: Any) -> Settings:
    base = {
        "database_url": db_url, "config": CONFIG,
        "jira": {"webhook_secret": SECRET, "poll_interval": 0},
        "zendesk": {"webhook_secret": ZENDESK_SECRET},
        "worker": {"count": 3, "idle_poll": 0.05, "leader_retry": 0.2, "backoff_base": 10},
    }
    return Settings(**_merge(base, overrides))


def pg_admin():  # noqa: ANN202 - a SQLAlchemy Engine
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                         connect_args={"connect_timeout": 2})


def postgres_unreachable() -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    try:
        with pg_admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"PostgreSQL unreachable at {PG_ADMIN_URL} ({exc.__class__.__name__}); set TICKETBOT_TEST_POSTGRES_URL"
    return None


def in_process_daemon(settings: Settings, site: Site, *, rules: Any, clock: Any, tracker: Any,
                      notifier: Any = None, alert: Callable[[str], None] | None = None,
                      field_json: list[dict[str, Any]] | None = None) -> Daemon:
    """The one way tests build a Daemon in this process: on ``tracker`` (a file-backed in-memory site, or the
    real adapter against a fake), the site's bot account as its own, the site's fields as its catalog."""
    bot = site.bot_account
    catalog = FieldCatalog.from_fields(field_json if field_json is not None else jira_field_json(site))
    return Daemon(settings, rules=rules, tracker=tracker, clock=clock, alert=alert, notifier=notifier,
                  bot_user=lambda: User(account_id=bot.account_id, email=bot.email), catalog=lambda: catalog)
