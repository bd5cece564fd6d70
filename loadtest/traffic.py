"""The clients: C threads, each a run of visitors who open the form, sign up once and sometimes send the
same form again (a double click, a retried POST) or confirm with the code from the emulator's outbox.

Each request goes to the next portal process in turn, as a round-robin load balancer would send it, so a
visitor's GET and POST usually land on different processes: CSRF, form tokens and rate limits must hold
across them (PostgreSQL and Redis are shared; process memory is not).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import random
import re
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

SLUG = "loadtest"
FORM_PATH = f"/signup/{SLUG}/"
HONEYPOT_FIELD = "contact_preference_note"  # signup/guards.py: people leave it empty, so do we
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(csrfmiddlewaretoken|form_token)" value="([^"]+)"')
TIMEOUT = (5, 60)  # connect, read: far above any answer the portal should take


@dataclass(frozen=True)
class Sample:
    """One HTTP request: what it was, which portal process, its status (None: no answer) and time."""

    kind: str  # form | signup | repeat | confirm_page | confirm
    portal: int
    status: int | None
    ms: float  # from the first try, so a re-sent request counts the time lost to the reset
    error: str = ""
    resets: int = 0  # tries reset on a kept-alive connection and re-sent (see Traffic._request)


@dataclass
class Visit:
    """One rendered form and every POST of it."""

    index: int
    username: str
    repeat: str  # "" | "concurrent" (a double click) | "after" (sent again once answered)
    confirm: bool
    form_key: str = ""  # the idempotency key inside the form token
    posts: int = 0
    outcomes: list[str] = field(default_factory=list)  # per answered POST: its status and where it leads
    confirmed: bool | None = None  # None: not tried


@dataclass
class TrafficResult:
    samples: list[Sample]
    visits: list[Visit]  # the visitors that started, in order
    seconds: float
    stopped_early: bool  # the deadline came before every planned visitor started
    client_errors: list[str]  # exceptions in the clients themselves (a bug here, not in the portal)


class Traffic:
    def __init__(
        self,
        portal_urls: list[str],
        emulator_url: str,
        *,
        signups: int,
        concurrency: int,
        deadline: float,
        repeat_share: float,
        confirm_share: float,
        seed: int,
    ) -> None:
        self.portal_urls = portal_urls
        self.emulator_url = emulator_url
        self.concurrency = concurrency
        self.deadline = deadline  # time.monotonic() after which no new visitor starts
        self.stop = threading.Event()
        plan = random.Random(seed)
        run = f"{seed:04x}"[-4:]
        self.planned = [plan_visit(n, f"lt{run}n{n:05d}", plan, repeat_share, confirm_share) for n in range(signups)]
        self.started: list[Visit] = []
        self.samples: list[Sample] = []
        self.client_errors: list[str] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def run(self) -> TrafficResult:
        started = time.monotonic()
        workers = [
            threading.Thread(target=self._work, name=f"client-{n}", daemon=True) for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():  # joined in slices, so Ctrl-C and SIGTERM get through
                    worker.join(0.5)
        finally:
            self.stop.set()
        return TrafficResult(
            samples=list(self.samples),
            visits=list(self.started),
            seconds=time.monotonic() - started,
            stopped_early=len(self.started) < len(self.planned),
            client_errors=list(self.client_errors),
        )

    def _work(self) -> None:
        session = requests.Session()
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self._lock:
                if len(self.started) == len(self.planned):
                    return
                visit = self.planned[len(self.started)]
                self.started.append(visit)
            session.cookies.clear()  # a new visitor; the connections stay, as a load balancer's would
            try:
                self._visit(session, visit)
            except Exception as error:  # reported as a failed check, never a silently dead client
                with self._lock:
                    self.client_errors.append(f"{visit.username}: {error!r}")

    def _visit(self, session: requests.Session, visit: Visit) -> None:
        page = self._request(session, "form", "GET", FORM_PATH)
        hidden = hidden_inputs(page)
        if len(hidden) != 2:
            return  # no form to fill in: a failed GET, and no attempt is expected
        visit.form_key = str(signed_payload(hidden["form_token"])["k"])
        data = {**hidden, **person(visit), HONEYPOT_FIELD: ""}
        if visit.repeat == "concurrent":
            twin = requests.Session()
            twin.cookies.update(session.cookies)
            barrier = threading.Barrier(2)
            thread = threading.Thread(target=self._post_signup, args=(twin, visit, data, "repeat", barrier))
            thread.start()
            response = self._post_signup(session, visit, data, "signup", barrier)
            thread.join()
            twin.close()
        else:
            response = self._post_signup(session, visit, data, "signup")
            if visit.repeat == "after":
                self._post_signup(session, visit, data, "repeat")
        location = response.headers.get("Location", "") if response is not None else ""
        if visit.confirm and "/confirm/" in location:
            self._confirm(session, visit, location)

    def _post_signup(
        self,
        session: requests.Session,
        visit: Visit,
        data: dict[str, str],
        kind: str,
        barrier: threading.Barrier | None = None,
    ) -> requests.Response | None:
        if barrier is not None:
            barrier.wait(10)  # both POSTs of a double click leave together
        with self._lock:
            visit.posts += 1
        response = self._request(session, kind, "POST", FORM_PATH, data=data)
        if response is not None:
            with self._lock:
                visit.outcomes.append(outcome_of(response))
        return response

    def _confirm(self, session: requests.Session, visit: Visit, location: str) -> None:
        try:
            sent = requests.get(f"{self.emulator_url}/_outbox", params={"username": visit.username}, timeout=TIMEOUT)
            codes = [message["code"] for message in sent.json()]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            codes = []
        if not codes:
            return  # no code went out (the email quota fault): nothing to confirm with
        path = urlsplit(location)._replace(scheme="", netloc="").geturl()
        page = self._request(session, "confirm_page", "GET", path)
        token = hidden_inputs(page).get("csrfmiddlewaretoken")
        if token is None:
            return
        data = {"csrfmiddlewaretoken": token, "username": visit.username, "code": codes[-1]}
        response = self._request(session, "confirm", "POST", path, data=data)
        visit.confirmed = response is not None and response.status_code == 302

    def _request(
        self, session: requests.Session, kind: str, method: str, path: str, **kwargs: Any
    ) -> requests.Response | None:
        """One request to the next portal, re-sent once if a kept-alive connection was reset unanswered.

        gunicorn's gthread worker closes a kept-alive connection once its keepalive has run out, even when a
        request has just arrived on it; the request is never read and the client sees a reset.
        Browsers re-send a request whose reused connection fails before any answer, so these clients do
        too, and every such reset is counted. Any other failure, or a second reset, is no answer.
        """
        portal = next(self._turn) % len(self.portal_urls)
        started = time.perf_counter()
        resets = 0
        while True:
            try:
                response = session.request(
                    method, self.portal_urls[portal] + path, timeout=TIMEOUT, allow_redirects=False, **kwargs
                )
            except requests.RequestException as error:
                if resets == 0 and was_reset(error):
                    resets += 1
                    continue
                self._record(Sample(kind, portal, None, elapsed_ms(started), repr(error)[:300], resets))
                return None
            self._record(Sample(kind, portal, response.status_code, elapsed_ms(started), resets=resets))
            return response

    def _record(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)


def plan_visit(index: int, username: str, plan: random.Random, repeat_share: float, confirm_share: float) -> Visit:
    repeat = plan.choice(["concurrent", "after"]) if plan.random() < repeat_share else ""
    return Visit(index, username, repeat, confirm=plan.random() < confirm_share)


def person(visit: Visit) -> dict[str, str]:
    """A valid, unique sign-up for the demo pool (password policy: 10+, upper, lower, digit, symbol)."""
    return {
        "username": visit.username,
        "password": f"Lt!{secrets.token_hex(6)}9Z",
        "email": f"{visit.username}@example.com",
        "given_name": "Load",
        "family_name": f"Tester {visit.index}",
        "custom_company": "Load Test Ltd",
    }


def hidden_inputs(page: requests.Response | None) -> dict[str, str]:
    return dict(HIDDEN_INPUT.findall(page.text)) if page is not None and page.status_code == 200 else {}


def signed_payload(token: str) -> dict[str, Any]:
    """The JSON inside a django.core.signing token ("payload:timestamp:signature"), not verified."""
    payload = token.split(":", 1)[0]
    compressed, payload = payload.startswith("."), payload.lstrip(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data: dict[str, Any] = json.loads(zlib.decompress(raw) if compressed else raw)
    return data


def outcome_of(response: requests.Response) -> str:
    """What a sign-up POST's answer says: the status, and for a redirect the step and the attempt."""
    if response.status_code != 302:
        return str(response.status_code)
    location = urlsplit(response.headers.get("Location", ""))
    token = parse_qs(location.query).get("t", [""])[0]
    try:
        attempt = str(signed_payload(token).get("a", "")) if token else ""
    except (ValueError, zlib.error):
        attempt = "unreadable"
    return f"302 {location.path} {attempt}"


def was_reset(error: BaseException) -> bool:
    """Whether the connection was reset or closed before any answer (not a timeout, not a refusal)."""
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if isinstance(current, ConnectionResetError | http.client.RemoteDisconnected):
            return True
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
    return False


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
