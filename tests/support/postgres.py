"""A private PostgreSQL database per test session, on the server this machine runs.

The server is `DP_TEST_POSTGRES_URL` (an admin URL that may create databases)
or else `postgresql://postgres@127.0.0.1:5432/postgres` (trust auth). Each test
that asks gets an empty database with a random name of its own; they are
dropped at the end of the session, and nothing else on the server is touched. When no server
answers, the tests that need one are skipped, saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

__all__ = ["postgres_admin_url", "postgres_databases", "postgres_url"]

_DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A URL of the machine's PostgreSQL that may create databases; skips without one."""
    import psycopg2

    url = os.environ.get("DP_TEST_POSTGRES_URL") or _DEFAULT_ADMIN_URL
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.Error as exc:
        pytest.skip(f"no PostgreSQL reachable at {url} (set DP_TEST_POSTGRES_URL): {exc}")
    return url


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Makes databases of this session's own (`dptest_<random>`); all dropped at the end."""
    import psycopg2

    admin = psycopg2.connect(postgres_admin_url, connect_timeout=5)
    admin.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    made: list[str] = []

    def new_database() -> str:
        database = f"dptest_{uuid.uuid4().hex[:12]}"
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
        made.append(database)
        return _with_database(postgres_admin_url, database)

    try:
        yield new_database
        with admin.cursor() as cursor:
            for database in made:
                # WITH (FORCE): a daemon a test killed may still hold a connection.
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    """An empty database for this test."""
    return postgres_databases()
