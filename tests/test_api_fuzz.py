"""Schemathesis against the API's own OpenAPI description (issue 19): whatever a client sends to any
operation, the Pi answers it without a server error, and the answers match the description.

The real app runs in this process (Schemathesis's ASGI transport, no socket) on a real store in
tmp_path with the replay cameras, so POST /api/captures takes real captures: a fraction of a second
each here, so that operation is fuzzed too, with fewer examples. Every operation is tried once without
credentials (Schemathesis makes up Authorization headers and session cookies) and once with the API
token as a bearer token, which takes every request past the token check into the routes. Requests
are both valid ones and ones the description forbids (Schemathesis's positive and negative modes).

Each operation's cases come from `APIOperation.as_strategy()` under Hypothesis's own `@given`,
one subtest per operation, not from `schemathesis.pytest.from_fixture`: that needs the app when
the test runs, and its pytest integration sets `Node._nodeid`, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.errors import FailureGroup

import edge.api.app as api_app
from edge.api.app import create_app
from edge.config import load_config
from edge.pipeline.context import build_context
from tests.support.daemon_helpers import free_port, simulate_captures, write_config

pytestmark = pytest.mark.slow
TOKEN = "fuzz-gate-1919"
EXAMPLES = 25  # per operation and pass
CAPTURE_EXAMPLES = 5  # a valid POST /api/captures runs the pipeline and writes six images
SLOW = {("POST", "/api/captures"): CAPTURE_EXAMPLES}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(21,))


@pytest.fixture
def api_schema(tmp_path, replay, monkeypatch):
    """The app as the daemon builds it, with a token, on a store that already holds a goat, a
    capture of it and a scale weight, so that the herd, summary and export routes have rows."""
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    # "testserver": the Host header Schemathesis's in-process client sends.
    api = f'[api]\ntoken = "{TOKEN}"\nallowed_hosts = ["testserver"]\n'
    config.write_text(config.read_text().replace("[api]\n", api))
    ctx = build_context(load_config(config, env={}))
    try:
        ctx.store.add_goat("G1", name="Clover")
        ctx.pipeline.capture("api", goat_tag="G1")
        ctx.store.add_scale_weight("G1", 31.5)
        # An event stream stays open this long; what it sends at once (its catch-up) is what is checked.
        monkeypatch.setattr(api_app, "EVENTS_STREAM_S", 0.0)
        yield schemathesis.openapi.from_asgi("/api/openapi.json", create_app(ctx))
    finally:
        ctx.close()


def fuzz(operation, headers: dict | None, check) -> None:
    """Valid and invalid requests to one operation; the first failure, shrunk, is raised."""
    max_examples = SLOW.get((operation.method.upper(), operation.path), EXAMPLES)
    modes = [operation.as_strategy(mode, headers=headers) for mode in schemathesis.GenerationMode]

    # derandomize: the same requests on every run, so CI is reproducible; no example database either.
    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None)
    @given(case=st.one_of(modes))
    def run(case) -> None:
        case.call_and_validate(checks=[check])

    run()


def operations(schema) -> list:
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 20, [op.label for op in found]
    return found


@pytest.mark.parametrize("credentials", ["anonymous", "bearer"])
def test_no_request_gets_a_server_error(api_schema, credentials, subtests):
    headers = BEARER if credentials == "bearer" else None
    for operation in operations(api_schema):
        with subtests.test(msg=operation.label):
            fuzz(operation, headers, not_a_server_error)


def test_every_answer_matches_the_openapi_description(api_schema):
    # With the token, so that requests get past the token check into the routes.
    mismatches = {}
    for operation in operations(api_schema):
        try:
            fuzz(operation, BEARER, response_schema_conformance)
        except FailureGroup as failures:
            mismatches[operation.label] = failures.message
    assert not mismatches, "\n".join(f"{label}:\n{report}" for label, report in mismatches.items())
