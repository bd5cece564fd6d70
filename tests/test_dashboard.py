"""The operators' outcomes dashboard: periods, counts, the funnel, the chart, the page, and its cost at scale."""

from __future__ import annotations

import random
import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from signup.branding import contrast_ratio
from signup.dashboard import (
    OTHER_STATUS_COLOUR,
    REFUSAL_LABELS,
    STATUS_COLOURS,
    TOP_ERROR_CODES,
    DashboardData,
    PeriodForm,
    dashboard_data,
    parse_period,
    render_svg_chart,
)
from signup.guards import BLOCK_CODES
from signup.models import Portal, SignupAttempt
from tests.factories import make_portal
from tests.test_browser import assert_accessible, browser, shot  # noqa: F401 -- browser is a fixture

Status = SignupAttempt.Status
NOW = datetime(2025, 11, 26, 14, 37, 5, tzinfo=UTC)
DASHBOARD = "/admin/signup/signupattempt/dashboard/"

with_dashboard_url = pytest.mark.urls("portal.urls")


@contextmanager
def created_at_as_given():
    """created_at is auto_now_add; tests need attempts from the past, so bulk_create keeps the given time."""
    with mock.patch.object(SignupAttempt._meta.get_field("created_at"), "auto_now_add", False):
        yield


def record(portal: Portal, when: datetime, status: str, error_code: str = "", *, confirmed: bool = False):
    return SignupAttempt(
        portal=portal,
        created_at=when,
        status=status,
        error_code=error_code,
        user_confirmed=confirmed if status == Status.SUCCEEDED else None,
        confirmed_at=when + timedelta(minutes=5) if confirmed else None,
    )


def store(*attempts: SignupAttempt) -> None:
    with created_at_as_given():
        SignupAttempt.objects.bulk_create(attempts, batch_size=5000)


def status_counts(data: DashboardData) -> dict[str, int]:
    return {row.status: row.count for row in data.statuses}


def funnel_counts(data: DashboardData) -> list[tuple[str, int, int | None]]:
    return [(step.name, step.count, step.drop_off) for step in data.funnel]


# --- Periods ----------------------------------------------------------------------------


def test_the_default_period_is_today_and_the_six_days_before():
    period = parse_period({}, NOW)

    assert (period.key, period.bucket) == ("7d", "day")
    assert period.start == datetime(2025, 11, 20, tzinfo=UTC)
    assert period.end == datetime(2025, 11, 27, tzinfo=UTC)
    assert len(period.bucket_starts()) == 7


def test_the_last_24_hours_are_the_current_hour_and_the_23_before_it():
    period = parse_period({"period": "24h"}, NOW)

    assert period.bucket == "hour"
    assert period.start == datetime(2025, 11, 25, 15, tzinfo=UTC)
    assert period.end == datetime(2025, 11, 26, 15, tzinfo=UTC)
    assert period.bucket_starts()[0] == period.start
    assert len(period.bucket_starts()) == 24


def test_the_last_30_days_are_drawn_per_day():
    period = parse_period({"period": "30d"}, NOW)

    assert period.start == datetime(2025, 10, 28, tzinfo=UTC)
    assert len(period.bucket_starts()) == 30


def test_a_custom_range_includes_its_end_date():
    period = parse_period({"period": "custom", "start": "2025-11-01", "end": "2025-11-10"}, NOW)

    assert (period.key, period.bucket) == ("custom", "day")
    assert period.start == datetime(2025, 11, 1, tzinfo=UTC)
    assert period.end == datetime(2025, 11, 11, tzinfo=UTC)
    assert len(period.bucket_starts()) == 10


def test_a_custom_range_of_a_few_days_is_drawn_per_hour():
    period = parse_period({"period": "custom", "start": "2025-11-01", "end": "2025-11-02"}, NOW)

    assert period.bucket == "hour"
    assert len(period.bucket_starts()) == 48


def test_a_preset_period_ignores_the_custom_dates():
    period = parse_period({"period": "30d", "start": "2025-01-01", "end": "2025-01-02"}, NOW)

    assert period.key == "30d"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"period": "99d"}, "Select a valid choice"),
        ({"period": "custom"}, "need both a start and an end date"),
        ({"period": "custom", "start": "2025-11-01"}, "need both a start and an end date"),
        ({"period": "custom", "start": "2025-13-01", "end": "2025-11-02"}, "Enter a valid date"),
        ({"period": "custom", "start": "yesterday", "end": "2025-11-02"}, "Enter a valid date"),
        ({"period": "custom", "start": "2025-11-10", "end": "2025-11-01"}, "before the start date"),
        ({"period": "custom", "start": "2024-01-01", "end": "2025-11-01"}, "at most 366 days"),
        ({"period": "custom", "start": "0001-01-01", "end": "0001-01-02"}, "greater than or equal to"),
        ({"period": "custom", "start": "9999-12-31", "end": "9999-12-31"}, "less than or equal to"),
    ],
)
def test_bad_period_input_explains_itself_and_shows_the_default(params, error):
    form = PeriodForm(params)

    assert not form.is_valid()
    assert error in str(form.errors)
    assert form.chosen_period(NOW).key == "7d"


def test_periods_start_at_midnight_in_the_current_time_zone():
    with timezone.override("America/New_York"):
        period = parse_period({}, NOW)

    assert period.start == datetime(2025, 11, 20, 5, tzinfo=UTC)  # EST is UTC-5


def test_a_day_with_a_clock_change_has_as_many_hours_as_it_lasted():
    with timezone.override("Europe/Berlin"):
        period = parse_period({"period": "custom", "start": "2025-10-26", "end": "2025-10-26"}, NOW)
        starts = period.bucket_starts()

    assert len(starts) == 25
    assert len(set(starts)) == 25


# --- The numbers ------------------------------------------------------------------------


@pytest.fixture
def acme_week():
    """A hand-counted week on acme, plus noise the acme figures must not include."""
    acme, other = make_portal("acme"), make_portal("other", name="Other")
    day = NOW - timedelta(days=1)
    store(
        *[record(acme, day, Status.SUCCEEDED, confirmed=True) for _ in range(3)],
        *[record(acme, day - timedelta(days=2), Status.SUCCEEDED) for _ in range(2)],
        record(acme, day, Status.REJECTED, "UsernameExistsException"),
        record(acme, day, Status.REJECTED, "UsernameExistsException"),
        record(acme, day, Status.REJECTED, "InvalidPasswordException"),
        record(acme, day, Status.FAILED, "SecretUnavailable"),
        record(acme, day, Status.UNKNOWN, "ReadTimeoutError"),
        record(acme, day, Status.PENDING),
        *[record(acme, day, Status.INVALID) for _ in range(4)],
        record(acme, NOW - timedelta(days=8), Status.SUCCEEDED, confirmed=True),  # before the period
        record(other, day, Status.SUCCEEDED, confirmed=True),
        record(other, day, Status.REJECTED, "UsernameExistsException"),
    )
    return acme, other


@pytest.mark.django_db
def test_it_counts_a_portals_attempts_by_status(acme_week):
    acme, _other = acme_week

    data = dashboard_data(portal_id=acme.pk, period=parse_period({}, NOW))

    assert status_counts(data) == {
        "succeeded": 5,
        "rejected": 3,
        "failed": 1,
        "unknown": 1,
        "pending": 1,
        "invalid": 4,
    }
    assert data.total == 15
    assert next(row.share for row in data.statuses if row.status == "succeeded") == "33.3\u00a0%"


@pytest.mark.django_db
def test_it_counts_error_codes_most_frequent_first(acme_week):
    acme, _other = acme_week

    data = dashboard_data(portal_id=acme.pk, period=parse_period({}, NOW))

    assert [(row.code, row.count) for row in data.error_codes] == [
        ("UsernameExistsException", 2),
        ("InvalidPasswordException", 1),
        ("ReadTimeoutError", 1),
        ("SecretUnavailable", 1),
    ]
    assert data.other_error_codes == 0


@pytest.mark.django_db
def test_the_funnel_follows_submitted_created_confirmed_with_the_drop_off_at_each_step(acme_week):
    acme, _other = acme_week

    data = dashboard_data(portal_id=acme.pk, period=parse_period({}, NOW))

    assert funnel_counts(data) == [("Submitted", 11, None), ("Created", 5, 6), ("Confirmed", 3, 2)]
    assert [(step.of_submitted, step.drop_off_share) for step in data.funnel] == [
        ("100.0\u00a0%", ""),
        ("45.5\u00a0%", "54.5\u00a0%"),
        ("27.3\u00a0%", "40.0\u00a0%"),
    ]
    assert (data.invalid, data.not_sent) == (4, 4)


@pytest.mark.django_db
def test_all_portals_add_up_and_one_portal_sees_only_its_own(acme_week):
    acme, other = acme_week
    period = parse_period({}, NOW)

    everything = dashboard_data(portal_id=None, period=period)
    theirs = dashboard_data(portal_id=other.pk, period=period)

    assert everything.total == 17
    assert everything.error_codes[0].count == 3
    assert status_counts(theirs) == {**dict.fromkeys(status_counts(theirs), 0), "succeeded": 1, "rejected": 1}
    assert funnel_counts(theirs) == [("Submitted", 2, None), ("Created", 1, 1), ("Confirmed", 1, 0)]


@pytest.mark.django_db
def test_a_custom_range_counts_only_its_days(acme_week):
    acme, _other = acme_week
    three_days_ago = (NOW - timedelta(days=3)).date().isoformat()
    period = parse_period({"period": "custom", "start": three_days_ago, "end": three_days_ago}, NOW)

    data = dashboard_data(portal_id=acme.pk, period=period)

    assert data.total == 2
    assert status_counts(data)["succeeded"] == 2
    assert [row.total for row in data.series.rows].count(2) == 1


@pytest.mark.django_db
def test_a_status_added_later_counts_as_reaching_cognito_unless_it_is_blocked():
    portal = make_portal("acme")
    store(
        record(portal, NOW, "throttled"),
        record(portal, NOW, "blocked"),
        record(portal, NOW, Status.INVALID),
        record(portal, NOW, Status.SUCCEEDED),
    )

    data = dashboard_data(portal_id=portal.pk, period=parse_period({}, NOW))

    assert status_counts(data)["throttled"] == 1
    assert status_counts(data)["blocked"] == 1
    assert funnel_counts(data)[0] == ("Submitted", 2, None)
    assert (data.invalid, data.not_sent) == (1, 2)
    assert next(row.colour for row in data.statuses if row.status == "throttled") == OTHER_STATUS_COLOUR


@pytest.mark.django_db
def test_it_lists_the_top_error_codes_and_sums_the_rest():
    portal = make_portal("acme")
    store(*[record(portal, NOW, Status.REJECTED, f"Code{i:02d}Exception") for i in range(TOP_ERROR_CODES + 5)])

    data = dashboard_data(portal_id=portal.pk, period=parse_period({}, NOW))

    assert len(data.error_codes) == TOP_ERROR_CODES
    assert data.other_error_codes == 5


@pytest.mark.django_db
def test_an_empty_period_shows_dashes_not_a_division_by_zero():
    data = dashboard_data(portal_id=None, period=parse_period({}, NOW))

    assert data.total == 0
    assert {step.of_submitted for step in data.funnel} == {"—"}
    assert [step.drop_off_share for step in data.funnel][1:] == ["—", "—"]
    assert "No attempts in this period." in render_svg_chart(data.series)


@pytest.mark.django_db
def test_the_series_puts_each_attempt_in_its_local_day_and_zero_fills_the_rest():
    portal = make_portal("acme")
    late_evening_utc = datetime(2025, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Berlin
    store(record(portal, late_evening_utc, Status.SUCCEEDED), record(portal, late_evening_utc, Status.REJECTED))

    with timezone.override("Europe/Berlin"):
        series = dashboard_data(portal_id=portal.pk, period=parse_period({}, NOW)).series
        days = [timezone.localtime(row.start).date().isoformat() for row in series.rows]

    assert days == [f"2025-11-{d}" for d in range(20, 27)]
    assert [row.total for row in series.rows] == [0, 0, 0, 0, 0, 2, 0]
    assert series.rows[5].counts[:2] == [1, 1]  # succeeded, rejected


@pytest.mark.django_db
def test_the_last_24_hours_are_counted_per_hour():
    portal = make_portal("acme")
    store(
        record(portal, NOW - timedelta(minutes=5), Status.SUCCEEDED),
        record(portal, NOW - timedelta(hours=23), Status.INVALID),
        record(portal, NOW - timedelta(hours=25), Status.SUCCEEDED),  # outside
    )

    series = dashboard_data(portal_id=portal.pk, period=parse_period({"period": "24h"}, NOW)).series

    totals = [row.total for row in series.rows]
    assert len(totals) == 24
    assert (totals[0], totals[-1], sum(totals)) == (1, 1, 2)


# --- Refused before Cognito -----------------------------------------------------------

MAX_PAGE_QUERIES = 12  # the dashboard's bound, whatever the number of attempts


@with_dashboard_url
@pytest.mark.django_db
def test_guard_refusals_are_counted_by_reason_in_the_pages_language_with_links_to_exactly_theirs(
    admin_client, django_assert_max_num_queries
):
    acme, other = make_portal("acme"), make_portal("other", name="Other")
    now = timezone.now()
    store(
        *[record(acme, now, Status.BLOCKED, "ChallengeInvalid") for _ in range(3)],
        *[record(acme, now, Status.BLOCKED, "EmailDomain") for _ in range(2)],
        record(acme, now, Status.BLOCKED, "RateLimited"),
        # Not a guard's refusal: another status, whatever its code, or another portal, or before the period.
        record(acme, now, Status.FAILED, "RateLimited"),
        record(acme, now, Status.REJECTED, "UsernameExistsException"),
        record(acme, now, Status.INVALID),
        record(other, now, Status.BLOCKED, "ChallengeInvalid"),
        record(acme, now - timedelta(days=40), Status.BLOCKED, "ChallengeInvalid"),
    )

    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = admin_client.get(f"{DASHBOARD}?portal={acme.pk}&period=30d&lang=de")

    refusals = response.context["data"].refusals
    assert [(row.code, row.label, row.count) for row in refusals] == [
        ("ChallengeInvalid", "Prüfung nicht bestanden", 3),
        ("EmailDomain", "E-Mail-Domain", 2),
        ("RateLimited", "Ratenbegrenzung", 1),
    ]
    table = response.content.decode().split('id="dashboard-refusals">', 1)[1].split("</section>", 1)[0]
    assert table.startswith("Vor Cognito abgelehnt, nach Grund</h2>")
    for row in refusals:
        assert f'<a href="{escape(row.url)}">{row.label}</a> <span class="dashboard-code">{row.code}</span>' in table
        assert f'<td class="num">{row.count}</td>' in table
        changelist = admin_client.get(row.url)
        assert changelist.status_code == 200  # a lookup admin refused would redirect to ?e=1
        found = changelist.context["cl"].result_list
        assert len(found) == changelist.context["cl"].result_count == row.count
        assert {(a.portal_id, a.status, a.error_code) for a in found} == {(acme.pk, Status.BLOCKED, row.code)}


@with_dashboard_url
@pytest.mark.django_db
def test_a_period_without_refusals_says_so_and_an_unnamed_code_shows_as_itself(admin_client):
    acme = make_portal("acme")
    store(record(acme, timezone.now(), Status.SUCCEEDED), record(acme, timezone.now(), Status.INVALID))
    page = admin_client.get(f"{DASHBOARD}?period=24h").content.decode()
    assert "No attempt in this period was refused by a guard." in page

    store(record(acme, timezone.now(), Status.BLOCKED, "SomeFutureGuard"))
    data = admin_client.get(f"{DASHBOARD}?period=24h").context["data"]
    assert [(row.code, row.label, row.count) for row in data.refusals] == [("SomeFutureGuard", "SomeFutureGuard", 1)]


@pytest.mark.parametrize("language", ["de", "es"])
def test_every_guards_refusal_has_a_label_in_every_language(language):
    assert set(BLOCK_CODES.values()) == set(REFUSAL_LABELS)
    with translation.override("en"):
        english = {code: str(label) for code, label in REFUSAL_LABELS.items()}
    with translation.override(language):
        assert [code for code, label in REFUSAL_LABELS.items() if str(label) == english[code]] == []


# --- The chart --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_chart_draws_one_bar_group_per_bucket_with_a_legend_and_a_title(acme_week):
    acme, _other = acme_week
    data = dashboard_data(portal_id=acme.pk, period=parse_period({}, NOW))

    svg = str(render_svg_chart(data.series))

    assert svg.count('<g class="bucket">') == 7
    assert 'role="img"' in svg
    assert 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Attempts per day by outcome, Last 7 days</title>' in svg
    legend = re.search(r'<g class="legend">(.*?)</g>', svg)
    assert legend is not None
    for label in ("succeeded", "rejected", "failed", "unknown", "pending", "invalid"):
        assert f">{label}</text>" in legend.group(1)
    assert "style=" not in svg
    assert "<script" not in svg
    assert "15 attempts" in svg


def test_every_chart_colour_stands_out_on_the_light_and_the_dark_admin_theme():
    for colour in [*STATUS_COLOURS.values(), OTHER_STATUS_COLOUR]:
        for background in ("#ffffff", "#121212", "#212121"):
            assert contrast_ratio(colour, background) >= 3, (colour, background)


# --- The page ---------------------------------------------------------------------------


@with_dashboard_url
@pytest.mark.django_db
def test_the_page_shows_an_admin_every_section(admin_client, acme_week):
    response = admin_client.get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert response.templates[0].name == "admin/signup/dashboard.html"
    for text in ("Funnel: submitted → created → confirmed", "Attempts by status", "Attempts by error code"):
        assert text in page
    assert page.count('<g class="bucket">') == 7
    assert "The chart&#x27;s numbers as a table" in page or "The chart's numbers as a table" in page
    assert "style=" not in page.split('<div id="content-main">', 1)[1]
    assert "<script" not in page.split('<div id="content-main">', 1)[1]


@with_dashboard_url
@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@with_dashboard_url
@pytest.mark.django_db
def test_staff_need_the_permission_to_view_attempts(client):
    staff = User.objects.create_user("operator", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get(DASHBOARD).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_signupattempt"))
    assert client.get(DASHBOARD).status_code == 200


@with_dashboard_url
@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "period=custom&start=garbage&end=2025-11-01",
        "period=custom&start=2025-11-10&end=2025-11-01",
        "period=forever",
        "portal=abc",
        "portal=999999",
        "period=custom&start=0001-01-01&end=9999-12-31",
    ],
)
def test_bad_input_is_a_form_error_never_a_server_error(admin_client, query):
    response = admin_client.get(f"{DASHBOARD}?{query}")

    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode()
    assert response.context["form"].errors


@with_dashboard_url
@pytest.mark.django_db
def test_the_portal_filter_isolates_one_portal(admin_client):
    acme, other = make_portal("acme"), make_portal("other", name="Other")
    now = timezone.now()
    store(record(acme, now, Status.SUCCEEDED), *[record(other, now, Status.REJECTED, "X") for _ in range(3)])

    response = admin_client.get(f"{DASHBOARD}?portal={other.pk}&period=24h")

    data = response.context["data"]
    assert (data.total, status_counts(data)["rejected"], status_counts(data)["succeeded"]) == (3, 3, 0)
    assert f'<option value="{other.pk}" selected>' in response.content.decode()


@with_dashboard_url
@pytest.mark.django_db
def test_an_error_code_links_to_exactly_its_attempts_in_the_log(admin_client):
    acme, other = make_portal("acme"), make_portal("other", name="Other")
    now = timezone.now()
    store(
        record(acme, now, Status.REJECTED, "UsernameExistsException"),
        record(acme, now, Status.REJECTED, "UsernameExistsException"),
        record(acme, now, Status.REJECTED, "InvalidPasswordException"),
        record(acme, now - timedelta(days=40), Status.REJECTED, "UsernameExistsException"),
        record(other, now, Status.REJECTED, "UsernameExistsException"),
    )
    data = admin_client.get(f"{DASHBOARD}?portal={acme.pk}&period=30d").context["data"]
    link = next(row.url for row in data.error_codes if row.code == "UsernameExistsException")

    changelist = admin_client.get(link)

    assert changelist.status_code == 200  # a lookup admin refused would redirect to ?e=1
    assert changelist.context["cl"].result_count == 2
    assert {a.portal_id for a in changelist.context["cl"].result_list} == {acme.pk}
    rejected = next(row.url for row in data.statuses if row.status == "rejected")
    assert admin_client.get(rejected).context["cl"].result_count == 3


def test_attempts_are_counted_by_channel_and_link_to_exactly_theirs(admin_client):
    acme = make_portal("acme")
    now = timezone.now()
    api = [record(acme, now, Status.SUCCEEDED) for _ in range(2)]
    for attempt in api:
        attempt.channel = SignupAttempt.Channel.API
    store(*api, record(acme, now, Status.INVALID))
    data = admin_client.get(f"{DASHBOARD}?portal={acme.pk}&period=7d").context["data"]

    assert [(row.label, row.count) for row in data.channels] == [("web page", 1), ("API", 2)]
    changelist = admin_client.get(data.channels[1].url)
    assert changelist.status_code == 200 and changelist.context["cl"].result_count == 2


@with_dashboard_url
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_passes_axe_in_the_light_and_the_dark_theme(browser, live_server, settings, scheme):  # noqa: F811
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    acme = make_portal("acme")
    now = timezone.now()
    store(
        *[record(acme, now - timedelta(days=d % 7), Status.SUCCEEDED, confirmed=d % 2 == 0) for d in range(20)],
        *[record(acme, now - timedelta(days=d % 5), Status.REJECTED, "UsernameExistsException") for d in range(6)],
        record(acme, now, Status.INVALID),
    )
    User.objects.create_superuser("operator", "op@example.com", "operator-Pass-123")
    context = browser.new_context(color_scheme=scheme)  # axe runs as a script: the page needs none
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("operator-Pass-123")
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}{DASHBOARD}")
    page.get_by_label("Last 30 days").check()
    page.get_by_role("button", name="Show").click()

    assert "period=30d" in page.url
    assert page.get_by_role("img", name=re.compile("Attempts per day by outcome")).is_visible()
    page.get_by_text("The chart's numbers as a table").click()
    assert page.get_by_role("table", name=re.compile("Attempts per day")).is_visible()
    shot(page, f"dashboard-{scheme}")
    assert_accessible(page)
    context.close()


# --- At scale ---------------------------------------------------------------------------

SCALE = 100_000
CODES_BY_STATUS = {
    Status.REJECTED: ["UsernameExistsException", "InvalidPasswordException", "InvalidParameterException"],
    Status.FAILED: ["SecretUnavailable", "TooManyRequestsException", "EndpointConnectionError"],
    Status.UNKNOWN: ["ReadTimeoutError"],
    Status.BLOCKED: ["RateLimited", "ChallengeInvalid", "ChallengeMissing", "EmailDomain", "PhoneRegion"],
}


def _many_attempts(portals: list[Portal], now: datetime, seed: int = 7):
    rng = random.Random(seed)
    statuses = (
        [Status.SUCCEEDED] * 6
        + [Status.REJECTED] * 2
        + [Status.INVALID] * 2
        + [Status.BLOCKED] * 2
        + [
            Status.FAILED,
            Status.UNKNOWN,
            Status.PENDING,
        ]
    )
    for _ in range(SCALE):
        status = rng.choice(statuses)
        when = now - timedelta(seconds=rng.randrange(29 * 24 * 3600))
        code = rng.choice(CODES_BY_STATUS[status]) if status in CODES_BY_STATUS else ""
        yield record(
            rng.choice(portals), when, status, code, confirmed=status == Status.SUCCEEDED and rng.random() < 0.7
        )


@with_dashboard_url
@pytest.mark.django_db
def test_the_page_costs_a_few_queries_with_100k_attempts(admin_client, django_assert_max_num_queries):
    portals = [make_portal(f"portal-{i}", name=f"Portal {i}") for i in range(4)]
    started = time.perf_counter()
    store(*_many_attempts(portals, timezone.now()))
    stored = time.perf_counter() - started

    timings = {}
    for query in ("period=30d", f"period=30d&portal={portals[0].pk}", "period=24h", "period=7d"):
        with django_assert_max_num_queries(MAX_PAGE_QUERIES):
            started = time.perf_counter()
            response = admin_client.get(f"{DASHBOARD}?{query}")
            timings[query] = time.perf_counter() - started
        assert response.status_code == 200

    everything = admin_client.get(f"{DASHBOARD}?period=30d").context["data"]
    assert everything.total == SCALE
    assert sum(row.total for row in everything.series.rows) == SCALE
    assert sum(row.count for row in everything.refusals) == status_counts(everything)["blocked"] > 0
    print(
        f"\nstored {SCALE} attempts in {stored:.1f}s; page: " + ", ".join(f"{q} {t:.3f}s" for q, t in timings.items())
    )


def test_the_admin_index_links_to_the_dashboard(admin_client):
    assert reverse("admin:signup_signupattempt_dashboard") == DASHBOARD
    assert DASHBOARD in admin_client.get("/admin/").content.decode()
