"""Fixtures of the fault suite: a throwaway PostgreSQL database (the daemon tests' own fixture)."""

from tests.daemon.conftest import pg_url  # noqa: F401 - re-exported fixture
