"""The fast fake Cognito the benchmark measures against (the load test uses the local emulator, whose faults,
user store and admin calls it needs): asyncio streams, HTTP/1.1 keep-alive, AWS JSON 1.1.

It answers SignUp, ConfirmSignUp and ResendConfirmationCode with valid bodies (checking SecretHash when
it knows the client's secret, and refusing a username twice as a case-insensitive pool does), and
replays the DescribeUserPool / DescribeUserPoolClient answers recorded from the local Cognito, so
`portal add` can sync from it. Every call is counted per operation. Each answer waits the configured
latency without blocking, so thousands of calls can be in flight on one core.

    python -m perfkit.fakecognito [--port 0] [--latency-ms 20] [--describe FILE.json] [--secret-env VAR]

Control endpoints (not counted): GET /_counts, POST /_reset, POST /_config {"latency_ms": 100}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
PUBLIC_CALLS = {"SignUp", "ConfirmSignUp", "ResendConfirmationCode"}
READY_LINE = "fake Cognito listening on"


class Fake:
    def __init__(self, latency_ms: float, describe: dict[str, Any], secret: str) -> None:
        self.latency = latency_ms / 1000
        self.describe = describe  # operation -> recorded JSON answer
        self.secret = secret
        self.counts: Counter[str] = Counter()
        self.usernames: set[str] = set()

    # --- Cognito -------------------------------------------------------------------------------

    def answer(self, operation: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.counts[operation] += 1
        if operation in self.describe:
            return 200, self.describe[operation]
        if operation not in PUBLIC_CALLS:
            return 400, error("UnknownOperationException", f"the fake does not answer {operation}")
        try:
            params = json.loads(body)
            username, client_id = str(params["Username"]), str(params["ClientId"])
        except (ValueError, KeyError, TypeError):
            return 400, error("InvalidParameterException", "Username and ClientId are required")
        if self.secret and params.get("SecretHash") != secret_hash(username, client_id, self.secret):
            return 400, error("NotAuthorizedException", f"Client {client_id} secret hash does not match")
        if operation == "ConfirmSignUp":
            return 200, {}
        delivery = {"Destination": "b***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
        if operation == "ResendConfirmationCode":
            return 200, {"CodeDeliveryDetails": delivery}
        key = username.lower()
        if key in self.usernames:
            return 400, error("UsernameExistsException", "User already exists")
        self.usernames.add(key)
        return 200, {"UserConfirmed": False, "UserSub": str(uuid.uuid4()), "CodeDeliveryDetails": delivery}

    # --- Control -------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/_counts":
            return 200, {**self.counts, "total": sum(self.counts.values())}
        if method == "POST" and path == "/_reset":
            self.counts.clear()
            return 200, {}
        if method == "POST" and path == "/_config":
            config = json.loads(body or b"{}")
            if "latency_ms" in config:
                self.latency = float(config["latency_ms"]) / 1000
            return 200, {"latency_ms": self.latency * 1000}
        return 404, error("NotFound", path)

    # --- HTTP/1.1 --------------------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                target = headers.get("x-amz-target", "")
                if target.startswith(TARGET_PREFIX):
                    status, payload = self.answer(target[len(TARGET_PREFIX) :], body)
                    if self.latency > 0:
                        await asyncio.sleep(self.latency)
                else:
                    status, payload = self.control(method, path.split("?", 1)[0], body)
                writer.write(response(status, payload))
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


def secret_hash(username: str, client_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


def response(status: int, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def main_async(args: argparse.Namespace) -> None:
    describe = json.loads(Path(args.describe).read_text()) if args.describe else {}
    secret = os.environ.get(args.secret_env, "") if args.secret_env else ""
    fake = Fake(args.latency_ms, describe, secret)
    server = await asyncio.start_server(fake.serve, args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"{READY_LINE} http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--describe", help="JSON: {operation: recorded answer} for the Describe calls")
    parser.add_argument("--secret-env", default="", help="environment variable holding the client secret")
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
