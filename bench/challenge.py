"""What the ALTCHA challenge costs the server, in one process: CPU per challenge handed out, and per
sign-up POST with a solution to check against the same POST on a portal without a challenge. Also the
work a solver does, timed with the library's Python solver (a browser's WebCrypto is faster, so this
is an upper bound on the visitor's wait, not a figure for it).

    .venv/bin/python bench/challenge.py [--cost 1000] [--count 300] [--solves 3]

Django's test client, a new SQLite file, Cognito stubbed: as bench/calls.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench.calls import in_new_django  # noqa: E402  (after the path is set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", type=int, default=500, help="the portal's challenge_cost (its default)")
    parser.add_argument("--count", type=int, default=300, help="challenges and sign-ups per figure")
    parser.add_argument("--solves", type=int, default=3, help="challenges solved by the Python solver")
    args = parser.parse_args()
    in_new_django("signup-challenge-")
    import altcha
    from botocore.stub import Stubber
    from django.conf import settings
    from django.test import Client

    from signup import cognito, guards
    from tests.factories import make_portal

    make_portal("plain", challenge="off")
    make_portal("pow", challenge="altcha", challenge_cost=args.cost)
    low, high = settings.SIGNUP_ALTCHA_COUNTER
    print(f"ALTCHA {args.cost} PBKDF2 iterations per guess, secret counter drawn from {low:,}-{high:,}")

    browser = Client()
    issue = cpu_per(args.count, lambda: browser.get("/signup/pow/challenge"))
    print(f"a challenge handed out (GET /signup/<slug>/challenge): {issue:.2f} ms CPU")

    # Solutions are made before the clock starts: the server's figure is the check, not the solving.
    solving, solutions = [], []
    for _ in range(args.solves):
        issued = altcha.Challenge.from_dict(browser.get("/signup/pow/challenge").json())
        started = time.perf_counter()
        solution = altcha.solve_challenge(issued)
        solving.append(time.perf_counter() - started)
        solutions.append(altcha.Payload(issued, solution).to_base64())
    print(
        f"solving in Python (altcha.solve_challenge, one core): median {statistics.median(solving):.2f} s "
        f"over {args.solves} (a browser's WebCrypto and workers are faster)"
    )
    if Path(CHROMIUM).exists():
        waits = browser_solves(browser, args.solves)
        print(
            f"solving in Chromium (the vendored widget, its PBKDF2 worker): median {statistics.median(waits):.2f} s, "
            f"max {max(waits):.2f} s over {args.solves}"
        )
    fresh = iter(fresh_solutions(args.count + 10))

    stub = Stubber(cognito.client_for("us-east-1", None, public=True))
    stub.activate()
    counter = iter(range(10**9))

    def sign_up(slug: str) -> None:
        n = next(counter)
        stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": f"sub-{n}"})
        data = {
            "username": f"user{n}",
            "password": "Str0ng!Passw0rd",
            "email": f"user{n}@example.com",
            "form_token": guards.form_token(),
        }
        if slug == "pow":
            data["altcha"] = next(fresh)
        answer = browser.post(f"/signup/{slug}/", data)
        if answer.status_code != 302:
            raise SystemExit(f"a sign-up answered {answer.status_code}, not the redirect to the confirm step")

    for slug in ("plain", "pow"):
        for _ in range(5):
            sign_up(slug)
    # Rounds that alternate the two, so a machine that slows down mid-run slows both alike.
    rounds = [(cpu_per(args.count // 10, lambda: sign_up("plain")), cpu_per(args.count // 10, lambda: sign_up("pow")))]
    for _ in range(9):
        rounds.append(
            (cpu_per(args.count // 10, lambda: sign_up("plain")), cpu_per(args.count // 10, lambda: sign_up("pow")))
        )
    plain = statistics.median(r[0] for r in rounds)
    checked = statistics.median(r[1] for r in rounds)
    extra = statistics.median(r[1] - r[0] for r in rounds)
    print(f"sign-up POST, no challenge: {plain:.2f} ms CPU (median of 10 rounds)")
    print(f"sign-up POST, ALTCHA checked: {checked:.2f} ms CPU (median difference per round {extra:+.2f} ms)")


CHROMIUM = "/usr/bin/chromium"
WIDGET_PAGE = """<!doctype html><html lang=en><head><title>bench</title>
<link rel=stylesheet href="/static/vendor/altcha/altcha.css"></head><body><form>
<altcha-widget challenge="/challenge" data-worker="/static/vendor/altcha/workers/pbkdf2.js"></altcha-widget>
</form><script type=module src="/static/vendor/altcha/altcha.min.js"></script>
<script type=module src="/static/signup/challenge.js"></script></body></html>"""


def browser_solves(client: object, count: int) -> list[float]:
    """Seconds from the visitor's tick to "verified", in Debian's Chromium with the files the page serves
    and the portal's challenges (the same cost), over a routed loopback origin: no server is needed, and
    loopback is a secure context, which WebCrypto needs."""
    from playwright.sync_api import sync_playwright

    def serve(route: object) -> None:
        path = route.request.url.split("localhost:9", 1)[1]  # type: ignore[attr-defined]
        if path == "/":
            route.fulfill(body=WIDGET_PAGE, content_type="text/html")  # type: ignore[attr-defined]
        elif path == "/challenge":
            answer = client.get("/signup/pow/challenge")  # type: ignore[attr-defined]
            route.fulfill(body=answer.content, content_type="application/json")  # type: ignore[attr-defined]
        else:
            file = ROOT / path.lstrip("/")
            kind = "text/css" if file.suffix == ".css" else "text/javascript"
            route.fulfill(body=file.read_bytes(), content_type=kind)  # type: ignore[attr-defined]

    waits = []
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop on this thread; our ORM calls are sync
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(count):
            page = chromium.new_page()
            page.route("http://localhost:9/**", serve)
            page.goto("http://localhost:9/")
            page.locator("altcha-widget input[type=checkbox]").wait_for()
            started = time.perf_counter()
            page.locator("altcha-widget label").click()
            page.locator('altcha-widget .altcha[data-state="verified"]').wait_for(timeout=120_000)
            waits.append(time.perf_counter() - started)
            page.close()
        chromium.close()
    return waits


def fresh_solutions(count: int) -> list[str]:
    """Solutions to cheap challenges of the same portal (cost 1, a small counter): checking one costs the
    same, one HMAC, whatever work the solver did."""
    import altcha
    from django.test import override_settings

    from signup import challenges
    from signup.models import Portal

    cheap = Portal.objects.get(slug="pow")
    cheap.challenge_cost = 1  # not saved: only these challenges are cheap
    answers = []
    with override_settings(SIGNUP_ALTCHA_COUNTER=(1, 4)):
        for _ in range(count):
            issued = altcha.Challenge.from_dict(challenges.altcha_challenge(cheap))
            answers.append(altcha.Payload(issued, altcha.solve_challenge(issued)).to_base64())
    return answers


def cpu_per(count: int, action: object) -> float:
    """Milliseconds of this process's CPU per call of `action`."""
    started = time.process_time()
    for _ in range(count):
        action()  # type: ignore[operator]
    return (time.process_time() - started) / count * 1000


if __name__ == "__main__":
    main()
