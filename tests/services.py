"""Real services on loopback for the storage tests: PostgreSQL databases and a moto S3 server.

PostgreSQL: the server at 127.0.0.1:5432 (trust auth, database `test`), or the URL in
`FANFLOW_TEST_POSTGRES_URL`. Each test session creates its own database and drops it at the end;
each test gets its own schema in it (through the connection's `search_path`). When the server
cannot be reached the PostgreSQL tests skip locally, but fail in CI (`CI` set), where
`.ci/run` starts the server first.

S3: `moto` in server mode, a separate process bound to 127.0.0.1 on a free port, started once per
test session; each test gets its own key prefix in one bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
S3_BUCKET = "fanflow-test"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Skip here, fail in CI: a missing service must not turn CI's storage tests into skips."""
    if in_ci():
        pytest.fail(f"{reason} (CI requires it; .ci/run starts it)", pytrace=False)
    pytest.skip(reason)


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass
class PostgresDatabase:
    """A database of this test session; `url_for(schema)` points a store at one schema of it."""

    admin_url: str
    url: str
    name: str

    def url_for(self, schema: str) -> str:
        return f"{self.url}?options={quote(f'-csearch_path={schema}')}"

    def execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(_dsn(self.url), autocommit=True) as conn:
            conn.execute(statement)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def postgres_database() -> Iterator[PostgresDatabase]:
    try:
        import psycopg
    except ImportError:
        unavailable('psycopg is not installed: pip install "fanflow[postgres]"')
        raise
    admin_url = os.environ.get("FANFLOW_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    name = f"fanflow_test_{os.getpid()}_{os.urandom(4).hex()}"
    try:
        with psycopg.connect(_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {admin_url}: {exc}")
    database = PostgresDatabase(admin_url, _with_database(admin_url, name), name)
    try:
        yield database
    finally:
        from fanflow.metadata.engine import dispose_all

        dispose_all()
        with psycopg.connect(_dsn(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- S3 (moto) ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def storage_options(self) -> dict[str, Any]:
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        }

    def storage_options_json(self) -> str:
        return json.dumps(self.storage_options())

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options())


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        unavailable('moto[server] and s3fs are needed: pip install "fanflow[dev]"')
        raise
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the moto S3 server did not start", pytrace=False)
            time.sleep(0.1)
    server = S3Server(endpoint, process)
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=S3_BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
