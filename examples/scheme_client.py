#!/usr/bin/env python3
"""A local-currency scheme's client of the mutualcredit JSON API, on the Python standard library alone.

With a member's API token it:

1. reads the member's accounts and finds its main account;
2. opens a further account for the member (``POST /api/v1/accounts``);
3. pays another co-op from the main account (``POST /api/v1/transfers``)
   with an ``Idempotency-Key``, and sends the same request again, as a
   client would after a timeout, to show that the retry pays nothing twice;
4. reads the main account's balance and its statement;
5. shows how a receiver checks a webhook's ``Mutualcredit-Signature``
   header, on a payload it signs itself.

Usage (the token needs the accounts:read and transfers:write scopes)::

    python examples/scheme_client.py BASE_URL TOKEN --payee CODE [--amount 12.50]
    BASE_URL=http://127.0.0.1:5000 TOKEN=mct_... PAYEE=panaderia python examples/scheme_client.py

Amounts are decimal strings in the region's unit ("12.50"), never floats.
Each step prints one line (the statement a line per movement); an error
prints the API's problem (its ``type`` and ``detail``) and exits with 1.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

REQUEST_TIMEOUT_S = 30
STATEMENT_PAGES_MAX = 10
STATEMENT_LINES_SHOWN = 5
SIGNATURE_HEADER = "Mutualcredit-Signature"


class ApiError(Exception):
    """The API answered with an error (an RFC 9457 problem+json document)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("type", "")).rsplit("/", 1)[-1]
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")


class Api:
    """A thin client: JSON in, JSON out, the token on every call."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """One request; returns status, headers (lower-case names) and the decoded JSON body."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            # The same key and body always get the first answer: retrying is safe.
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                answer_headers = {name.lower(): value for name, value in response.headers.items()}
                return response.status, answer_headers, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                problem = json.loads(raw)
            except ValueError:
                problem = {"type": "about:blank", "detail": raw.decode(errors="replace")[:200]}
            raise ApiError(error.code, problem) from None

    def get(self, path: str, **query: Any) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode({key: value for key, value in query.items() if value is not None})
        return self.call("GET", path)[2]


# --- webhooks ---------------------------------------------------------------


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Mutualcredit-Signature`` value the instance sends with ``body`` (here only for the demo)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str | None, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """Whether a webhook's ``Mutualcredit-Signature`` header signs this raw ``body`` under ``secret``.

    The header reads ``t=<unix seconds>,v1=<hex HMAC-SHA256>``, where the
    HMAC is taken over ``f"{t}."`` followed by the raw body bytes, exactly as
    received: verify before parsing the JSON. A header may carry several
    ``v1=`` values while the sender rotates its secret; one must match. A
    timestamp more than ``tolerance`` seconds from now is refused, so that an
    old delivery cannot be replayed. Deliveries can arrive more than once:
    de-duplicate them on the event id.
    """
    if not header or len(header) > 1_000:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            return False
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    # Compare every candidate in constant time, so that timing reveals nothing.
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates]
    return any(matches)


def demonstrate_webhook_verification() -> bool:
    """Sign a sample delivery locally and check it as a receiver would; True if every check came out right."""
    secret = "whsec_demo-" + uuid.uuid4().hex
    body = json.dumps({"type": "transfer.created", "data": {"id": str(uuid.uuid4()), "amount": "12.50"}}).encode()
    now = int(time.time())
    header = sign_payload(secret, body, now)
    checks = {
        "genuine": verify_signature(secret, header, body) is True,
        "tampered body": verify_signature(secret, header, body.replace(b"12.50", b"99.50")) is False,
        "wrong secret": verify_signature("whsec_other", header, body) is False,
        "replayed after 10 minutes": verify_signature(secret, header, body, now=now + 600) is False,
        "no header": verify_signature(secret, None, body) is False,
    }
    for name, is_right in checks.items():
        print(f"webhook signature, {name}: {'ok' if is_right else 'WRONG'}")
    return all(checks.values())


# --- the scheme's day ---------------------------------------------------------


def main_account(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The member's main account: the one named like the member (opened when it joined), else the first."""
    if not accounts:
        raise SystemExit("error: this token sees no account (does it have the accounts:read scope?)")
    member = accounts[0]["member"]
    for account in accounts:
        if account["code"] == member:
            return account
    return accounts[0]


def run(api: Api, *, payee: str, amount: str, account_code: str | None, account_name: str) -> None:
    accounts = api.get("/api/v1/accounts")
    main = main_account(accounts)
    member = main["member"]
    print(f"member {member}: main account {main['code']}, balance {main['balance']} {main['unit']}")

    # 1. A further account for the member, e.g. for the scheme's own float.
    # Members open accounts without credit; coordinators set credit limits.
    code = account_code or f"{member}:scheme"
    try:
        status, headers, opened = api.call(
            "POST", "/api/v1/accounts", {"code": code, "name": account_name}, idempotency_key=f"open-account-{code}"
        )
        how = "replayed" if headers.get("idempotent-replayed") == "true" else "created"
    except ApiError as error:
        if error.code != "already_exists":
            raise
        opened, how = api.get(f"/api/v1/accounts/{urllib.parse.quote(code, safe='')}"), "already open"
    print(f"account {opened['code']} ({how}): floor {opened['floor']}, balance {opened['balance']} {opened['unit']}")

    # 2. Pay another co-op, with a key chosen before the first attempt.
    key = str(uuid.uuid4())
    payment = {"payer": main["code"], "payee": payee, "amount": amount, "description": "Scheme client example"}
    status, headers, transfer = api.call("POST", "/api/v1/transfers", payment, idempotency_key=key)
    print(f"paid {transfer['amount']} {transfer['unit']} from {transfer['payer']} to {transfer['payee']}: transfer {transfer['id']} ({status})")
    # The answer might have been lost on the way: sending the same request with
    # the same key again returns the first answer and pays nothing twice.
    status, headers, retried = api.call("POST", "/api/v1/transfers", payment, idempotency_key=key)
    replayed = headers.get("idempotent-replayed") == "true"
    print(f"retry with the same key: transfer {retried['id']} ({status}, replayed: {'yes' if replayed else 'no'})")

    # 3. Balance and statement.
    account = api.get(f"/api/v1/accounts/{urllib.parse.quote(main['code'], safe='')}")
    print(f"balance of {account['code']}: {account['balance']} {account['unit']} (available {account['available']})")
    lines: list[dict[str, Any]] = []
    cursor = None
    for _ in range(STATEMENT_PAGES_MAX):
        page = api.get(f"/api/v1/accounts/{urllib.parse.quote(main['code'], safe='')}/statement", cursor=cursor, limit=100)
        lines.extend(page["lines"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    print(f"statement of {account['code']}: {len(lines)} movement(s), the last {min(len(lines), STATEMENT_LINES_SHOWN)}:")
    for line in lines[-STATEMENT_LINES_SHOWN:]:
        print(f"  {line['created_at']}  {line['amount']:>10}  {line['counterparty']:<20} balance {line['balance_after']}  {line['description']}")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", nargs="?", default=os.environ.get("BASE_URL"), help="e.g. http://127.0.0.1:5000 (or $BASE_URL)")
    parser.add_argument("token", nargs="?", default=os.environ.get("TOKEN"), help="a member's API token (or $TOKEN)")
    parser.add_argument("--payee", default=os.environ.get("PAYEE"), help="the account to pay (or $PAYEE)")
    parser.add_argument("--amount", default="12.50", help="a decimal string in the region's unit (default 12.50)")
    parser.add_argument("--account-code", help="code of the account to open (default MEMBER:scheme)")
    parser.add_argument("--account-name", default="Scheme account", help="its name")
    arguments = parser.parse_args(argv)
    for name in ("base_url", "token", "payee"):
        if not getattr(arguments, name):
            parser.error(f"{name.upper()} is required (an argument or an environment variable)")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    api = Api(arguments.base_url, arguments.token)
    try:
        run(
            api,
            payee=arguments.payee,
            amount=arguments.amount,
            account_code=arguments.account_code,
            account_name=arguments.account_name,
        )
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"error: cannot reach {arguments.base_url}: {error.reason}", file=sys.stderr)
        return 1
    return 0 if demonstrate_webhook_verification() else 1


if __name__ == "__main__":
    sys.exit(main())
