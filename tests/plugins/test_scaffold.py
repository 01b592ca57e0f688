"""``ticketbot new-runbook``: the package it writes installs into a fresh venv, is listed by ``ticketbot rules``
(found through its entry point), passes its own test and replays its demo."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app


def _scaffold(target: Path, name: str = "acme_onboarding") -> Path:
    result = CliRunner().invoke(app, ["new-runbook", name, "--dir", str(target)])
    assert result.exit_code == 0, result.output
    return target


def _venv(tmp_path: Path) -> Path:
    """A new venv that sees this environment's packages (ticketbot, pytest, setuptools) as a site dir, not its own:
    what it installs lands in it alone."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    own = next((venv / "lib").glob("python3*/site-packages"))
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (own / "outer_environment.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in outer))
    return venv / "bin" / "python"


def _run(python: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TICKETBOT_", "PYTEST_"))}
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**environment, "COLUMNS": "250", **env})


def test_a_scaffolded_runbook_installs_is_listed_passes_its_test_and_replays_its_demo(tmp_path: Path) -> None:
    package = _scaffold(tmp_path / "acme")
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml", "config.yaml", "acme_onboarding/__init__.py", "acme_onboarding/rule.py",
        "tests/test_acme_onboarding.py", "demo/site.yaml", "demo/events.jsonl"}
    python = _venv(tmp_path)
    installed = _run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(package),
                     cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    config = str(package / "config.yaml")

    listed = _run(python, "-m", "bot.cli.main", "rules", cwd=tmp_path, TICKETBOT_CONFIG=config)
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if "acme_onboarding" in row)
    assert "acme-onboarding 0.1.0" in line and "yes" in line and "ONB" in line
    assert "ticketbot 0.1.0" in listed.stdout  # the built-in rules, through ticketbot's own entry points

    tested = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert tested.returncode == 0 and "3 passed" in tested.stdout, tested.stdout + tested.stderr

    played = _run(python, "-m", "bot.cli.main", "replay", str(package / "demo" / "events.jsonl"), "--until",
                  "2027-01-25", cwd=tmp_path, TICKETBOT_CONFIG=config,
                  TICKETBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    assert played.returncode == 0, played.stderr
    assert "Reminder 4: Onboarding of Acme Ltd (ONB-1) is still not done." in played.stdout
    assert "Reminder" not in "\n".join(line for line in played.stdout.splitlines() if "ONB-2" in line)
    assert "8 events replayed" in played.stdout


@pytest.mark.parametrize(("name", "why"), [
    ("Acme-Onboarding", "is not a rule id"),
    ("class", "is a Python keyword"),
    ("nfe_onboarding", "already a known rule id"),
    ("json", "a module 'json' is already importable"),
])
def test_a_name_that_cannot_be_a_new_rule_is_refused(tmp_path: Path, name: str, why: str) -> None:
    result = CliRunner().invoke(app, ["new-runbook", name, "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2 and why in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_directory_with_files_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine")
    result = CliRunner().invoke(app, ["new-runbook", "acme_onboarding", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "not an empty directory" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
