"""The same Idempotency-Key sent by 10 clients at once creates exactly one transfer.

Ten threads, each with its own connection to gunicorn (several worker
processes), are released together by a barrier and send the same request
with the same key and no transfer id. Each must be answered 2xx with the
same transfer, or 409 ``idempotency_key_in_progress`` while the first
request still runs, and then, retried, the same transfer. The ledger holds
exactly one. The same key with another body is 409 ``idempotency_key_reused``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from live.conftest import Answer, HttpClient, LiveServer

pytestmark = pytest.mark.postgres

CLIENT_COUNT = 10
ROUNDS = 5
IN_PROGRESS_RETRIES_MAX = 100
IN_PROGRESS_PAUSE_S = 0.1
BARRIER_TIMEOUT_S = 60
JOIN_TIMEOUT_S = 120
IN_PROGRESS = "/api/v1/problems/idempotency_key_in_progress"

MEMBERS: dict[str, tuple[int, int | None]] = {"alpha": (-1_000_000, None), "beta": (-1_000_000, None)}


@pytest.fixture(scope="module")
def server(live_server_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with live_server_factory("idempotency", MEMBERS) as server:
        yield server


def send_until_answered(client: HttpClient, server: LiveServer, path: str, key: str, body: object) -> tuple[Answer, int]:
    """POST with ``key``; while the key is in progress, wait and send again. Returns the answer and the 409s seen."""
    in_progress = 0
    for _ in range(IN_PROGRESS_RETRIES_MAX):
        answer = client.request("POST", path, token=server.tokens["alpha"], body=body, headers={"Idempotency-Key": key})
        if answer.status != 409 or answer.problem_type != IN_PROGRESS:
            return answer, in_progress
        in_progress += 1
        time.sleep(IN_PROGRESS_PAUSE_S)
    pytest.fail(f"the key {key} was still in progress after {IN_PROGRESS_RETRIES_MAX} retries")


def send_all_at_once(server: LiveServer, path: str, key: str, body: object) -> list[tuple[Answer, int]]:
    """``CLIENT_COUNT`` clients send the same request at the same moment; their answers, in client order."""
    barrier = threading.Barrier(CLIENT_COUNT, timeout=BARRIER_TIMEOUT_S)
    answers: list[tuple[Answer, int] | None] = [None] * CLIENT_COUNT
    failures: list[BaseException] = []
    clients = [server.client() for _ in range(CLIENT_COUNT)]
    for client in clients:
        # Connect beforehand (a cheap read), so that the barrier releases requests, not TCP handshakes.
        assert client.request("GET", "/health").status == 200

    def work(index: int) -> None:
        try:
            barrier.wait()
            answers[index] = send_until_answered(clients[index], server, path, key, body)
        except BaseException as error:
            failures.append(error)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(CLIENT_COUNT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    for client in clients:
        client.close()
    assert not any(thread.is_alive() for thread in threads), "a client is still waiting: a hang"
    assert not failures, failures
    return [answer for answer in answers if answer is not None]


def count_transfers(server: LiveServer, description: str) -> int:
    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            count: int = connection.execute(
                sa.text("SELECT count(*) FROM transfers WHERE description = :description"), {"description": description}
            ).scalar_one()
            return count
    finally:
        engine.dispose()


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_same_key_sent_by_ten_clients_at_once_creates_exactly_one_transfer(server: LiveServer, round_number: int) -> None:
    description = f"once {round_number} {uuid.uuid4()}"
    body = {"payer": "alpha", "payee": "beta", "amount": "7.25", "description": description}
    answers = send_all_at_once(server, "/api/v1/transfers", f"same-key-{uuid.uuid4()}", body)

    assert len(answers) == CLIENT_COUNT
    statuses = sorted(answer.status for answer, _ in answers)
    assert all(status in (200, 201) for status in statuses), [(a.status, a.body[:200]) for a, _ in answers]
    ids = {answer.json()["id"] for answer, _ in answers}
    assert len(ids) == 1, f"the clients were told of {len(ids)} different transfers"
    # Exactly one request ran; every other answer is its stored response, replayed.
    originals = [answer for answer, _ in answers if answer.headers.get("idempotent-replayed") != "true"]
    assert len(originals) == 1, [dict(answer.headers) for answer in originals]
    assert originals[0].status == 201
    assert {answer.json()["amount"] for answer, _ in answers} == {"7.25"}
    assert count_transfers(server, description) == 1


def test_a_batch_under_the_same_key_sent_by_ten_clients_at_once_is_applied_once(server: LiveServer) -> None:
    description = f"batch once {uuid.uuid4()}"
    body = {
        "transfers": [{"payer": "alpha", "payee": "beta", "amount": "1.00", "description": description}] * 3,
        "atomic": True,
    }
    answers = send_all_at_once(server, "/api/v1/transfers/batch", f"batch-key-{uuid.uuid4()}", body)

    assert {answer.status for answer, _ in answers} == {200}, [(a.status, a.body[:200]) for a, _ in answers]
    item_ids = {tuple(item["id"] for item in answer.json()["items"]) for answer, _ in answers}
    assert len(item_ids) == 1 and len(set(next(iter(item_ids)))) == 3
    assert count_transfers(server, description) == 3


def test_the_same_key_with_another_body_is_refused_as_reused(server: LiveServer) -> None:
    key = f"reused-{uuid.uuid4()}"
    description = f"first {key}"
    with server.client() as client:
        first = client.request(
            "POST",
            "/api/v1/transfers",
            token=server.tokens["alpha"],
            body={"payer": "alpha", "payee": "beta", "amount": "3.00", "description": description},
            headers={"Idempotency-Key": key},
        )
        other = client.request(
            "POST",
            "/api/v1/transfers",
            token=server.tokens["alpha"],
            body={"payer": "alpha", "payee": "beta", "amount": "4.00", "description": description},
            headers={"Idempotency-Key": key},
        )
        again = client.request(
            "POST",
            "/api/v1/transfers",
            token=server.tokens["alpha"],
            body={"payer": "alpha", "payee": "beta", "amount": "3.00", "description": description},
            headers={"Idempotency-Key": key},
        )

    assert first.status == 201
    assert (other.status, other.problem_type) == (409, "/api/v1/problems/idempotency_key_reused")
    assert (again.status, again.json()["id"], again.headers.get("idempotent-replayed")) == (201, first.json()["id"], "true")
    assert count_transfers(server, description) == 1
