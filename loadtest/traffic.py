"""The clients: C visitors at a time, each opening the form, signing up once and sometimes sending the same
form again (a double click, a retried POST) or confirming with the code from the emulator's outbox.

Each request goes to the next portal process in turn, as a round-robin load balancer would send it, so a
visitor's GET and POST usually land on different processes: CSRF, form tokens and rate limits must hold
across them (PostgreSQL and Redis are shared; process memory is not). The clients are coroutines on
perfkit's HTTP client, so the load generator takes as little as it can of the CPUs the portals run on.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from perfkit.client import (
    NO_ANSWER,
    Connection,
    Response,
    attempt,
    cookie_header,
    fetch_json,
    get,
    host_port,
    post_form,
)
from perfkit.forms import HONEYPOT_FIELD, form_path, hidden_inputs, person, signed_payload

SLUG = "loadtest"
FORM_PATH = form_path(SLUG)
TIMEOUT = 60.0  # seconds for one request, connecting included: far above any answer the portal should take


@dataclass(frozen=True)
class Sample:
    """One HTTP request: what it was, which portal process, its status (None: no answer) and time."""

    kind: str  # form | signup | repeat | confirm_page | confirm
    portal: int
    status: int | None
    ms: float  # from the first try, so a re-sent request counts the time lost to the reset
    error: str = ""
    resets: int = 0  # tries closed unanswered on a kept-alive connection and re-sent (perfkit.client.Connection)


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


class Browser:
    """A visitor's cookies and a kept-alive connection to each portal process, as a browser behind a load
    balancer holds them; the connections outlive the visitor, as a balancer's would."""

    def __init__(self, portals: list[tuple[str, int]]) -> None:
        self.portals = portals
        self.connections = [Connection(host, port, timeout=TIMEOUT) for host, port in portals]
        self.cookies: dict[str, str] = {}

    def twin(self) -> Browser:
        """A second tab: the same cookies, connections of its own."""
        other = Browser(self.portals)
        other.cookies = dict(self.cookies)
        return other

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


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
        self.portals = [host_port(url) for url in portal_urls]
        self.emulator_url = emulator_url
        self.concurrency = concurrency
        self.deadline = deadline  # time.monotonic() after which no new visitor starts
        plan = random.Random(seed)
        run = f"{seed:04x}"[-4:]
        self.planned = [plan_visit(n, f"lt{run}n{n:05d}", plan, repeat_share, confirm_share) for n in range(signups)]
        self.started: list[Visit] = []
        self.samples: list[Sample] = []
        self.client_errors: list[str] = []
        self._turn = itertools.count()

    def run(self) -> TrafficResult:
        started = time.monotonic()
        asyncio.run(self._clients())
        return TrafficResult(
            samples=list(self.samples),
            visits=list(self.started),
            seconds=time.monotonic() - started,
            stopped_early=len(self.started) < len(self.planned),
            client_errors=list(self.client_errors),
        )

    async def _clients(self) -> None:
        await asyncio.gather(*(self._work() for _ in range(self.concurrency)))

    async def _work(self) -> None:
        browser = Browser(self.portals)
        try:
            while time.monotonic() < self.deadline and len(self.started) < len(self.planned):
                visit = self.planned[len(self.started)]
                self.started.append(visit)
                browser.cookies = {}  # a new visitor
                try:
                    await self._visit(browser, visit)
                except Exception as error:  # reported as a failed check, never a silently dead client
                    self.client_errors.append(f"{visit.username}: {error!r}")
        finally:
            browser.close()

    async def _visit(self, browser: Browser, visit: Visit) -> None:
        hidden = form_inputs(await self._request(browser, "form", "GET", FORM_PATH))
        if len(hidden) != 2:
            return  # no form to fill in: a failed GET, and no attempt is expected
        visit.form_key = str(signed_payload(hidden["form_token"])["k"])
        data = {**hidden, **person(visit.index, visit.username), HONEYPOT_FIELD: ""}
        if visit.repeat == "concurrent":
            twin = browser.twin()
            try:  # both POSTs of a double click leave together, the second to the next portal
                response, _ = await asyncio.gather(
                    self._post_signup(browser, visit, data, "signup"),
                    self._post_signup(twin, visit, data, "repeat"),
                )
            finally:
                twin.close()
        else:
            response = await self._post_signup(browser, visit, data, "signup")
            if visit.repeat == "after":
                await self._post_signup(browser, visit, data, "repeat")
        location = response.headers.get("location", "") if response is not None else ""
        if visit.confirm and "/confirm/" in location:
            await self._confirm(browser, visit, location)

    async def _post_signup(self, browser: Browser, visit: Visit, data: Mapping[str, str], kind: str) -> Response | None:
        visit.posts += 1
        response = await self._request(browser, kind, "POST", FORM_PATH, data)
        if response is not None:
            visit.outcomes.append(outcome_of(response))
        return response

    async def _confirm(self, browser: Browser, visit: Visit, location: str) -> None:
        try:
            sent = await fetch_json(f"{self.emulator_url}/_outbox?username={quote(visit.username)}", timeout=TIMEOUT)
            codes = [message["code"] for message in sent]
        except (*NO_ANSWER, KeyError, TypeError):
            codes = []
        if not codes:
            return  # no code went out (the email quota fault): nothing to confirm with
        path = urlsplit(location)._replace(scheme="", netloc="").geturl()
        token = form_inputs(await self._request(browser, "confirm_page", "GET", path)).get("csrfmiddlewaretoken")
        if token is None:
            return
        data = {"csrfmiddlewaretoken": token, "username": visit.username, "code": codes[-1]}
        response = await self._request(browser, "confirm", "POST", path, data)
        visit.confirmed = response is not None and response.status == 302

    async def _request(
        self, browser: Browser, kind: str, method: str, path: str, data: Mapping[str, str] | None = None
    ) -> Response | None:
        """One request to the next portal. The connection re-sends it once if it was kept alive and closed
        before any answer: gunicorn's gthread worker closes a kept-alive connection once its keepalive has
        run out, even when a request has just arrived on it, and browsers re-send such a request too. Every
        such reset is counted; any other failure, or a second reset, is no answer."""
        portal = next(self._turn) % len(self.portals)
        host, port = self.portals[portal]
        connection = browser.connections[portal]
        cookie = cookie_header(browser.cookies)
        raw = get(host, port, path, cookie) if data is None else post_form(host, port, path, data, cookie)
        started, resent = time.perf_counter(), connection.resent
        answer = await attempt(connection, raw)
        resets = connection.resent - resent
        if isinstance(answer, BaseException):
            self.samples.append(Sample(kind, portal, None, elapsed_ms(started), repr(answer)[:300], resets))
            return None
        browser.cookies.update(answer.cookies())
        self.samples.append(Sample(kind, portal, answer.status, elapsed_ms(started), resets=resets))
        return answer


def plan_visit(index: int, username: str, plan: random.Random, repeat_share: float, confirm_share: float) -> Visit:
    repeat = plan.choice(["concurrent", "after"]) if plan.random() < repeat_share else ""
    return Visit(index, username, repeat, confirm=plan.random() < confirm_share)


def form_inputs(page: Response | None) -> dict[str, str]:
    return hidden_inputs(page.body) if page is not None and page.status == 200 else {}


def outcome_of(response: Response) -> str:
    """What a sign-up POST's answer says: the status, and for a redirect the step and the attempt."""
    if response.status != 302:
        return str(response.status)
    location = urlsplit(response.headers.get("location", ""))
    token = parse_qs(location.query).get("t", [""])[0]
    try:
        attempt_id = str(signed_payload(token).get("a", "")) if token else ""
    except (ValueError, zlib.error):
        attempt_id = "unreadable"
    return f"302 {location.path} {attempt_id}"


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
