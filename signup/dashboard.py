"""The operators' outcomes dashboard: what happened to sign-up attempts per portal and period.

Everything is counted by the database in a fixed handful of aggregate queries (GROUP BY and conditional
COUNTs); Python only loops over the groups and the chart's buckets, never over attempts.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count, Func, IntegerField, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import Portal, SignupAttempt

Status = SignupAttempt.Status
Bucket = Literal["hour", "day"]

DEFAULT_PERIOD = "7d"
PRESETS: dict[str, tuple[Bucket, int]] = {"24h": ("hour", 24), "7d": ("day", 7), "30d": ("day", 30)}
PERIOD_CHOICES = [
    ("24h", gettext_lazy("Last 24 hours")),
    ("7d", gettext_lazy("Last 7 days")),
    ("30d", gettext_lazy("Last 30 days")),
    ("custom", gettext_lazy("Custom dates")),
]
MAX_CUSTOM_DAYS = 366
HOURLY_UP_TO_DAYS = 3  # a custom range this short is drawn per hour
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)
TOP_ERROR_CODES = 20
# Statuses of attempts that never reached Cognito. Any other status, even one added later, did.
NOT_SENT_STATUSES = frozenset({"invalid", "blocked"})

# Okabe–Ito-like hues, told apart with colour-vision deficiencies; each is at least 3:1 (WCAG 1.4.11)
# against the admin's light (#ffffff) and dark (#121212, #212121) backgrounds.
STATUS_COLOURS = {
    Status.SUCCEEDED.value: "#2b7bd6",
    Status.REJECTED.value: "#c25700",
    Status.FAILED.value: "#b8569a",
    Status.UNKNOWN.value: "#6e7781",
    Status.PENDING.value: "#00876a",
    Status.INVALID.value: "#a07800",
}
OTHER_STATUS_COLOUR = "#8a5cd1"
# The order bars are stacked in, from the axis up, and rows are listed in.
STATUS_ORDER = [
    Status.SUCCEEDED.value,
    Status.REJECTED.value,
    Status.FAILED.value,
    Status.UNKNOWN.value,
    Status.PENDING.value,
    Status.INVALID.value,
]


# --- The period -------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) in the current time zone, and the size of the chart's buckets."""

    start: datetime
    end: datetime
    bucket: Bucket
    label: str
    key: str

    @property
    def description(self) -> str:
        zone = timezone.get_current_timezone_name()
        if self.bucket == "hour":
            first = formats.date_format(timezone.localtime(self.start), "DATETIME_FORMAT")
            last = formats.date_format(timezone.localtime(self.end), "DATETIME_FORMAT")
            return _("From %(start)s to %(end)s (%(zone)s)") % {"start": first, "end": last, "zone": zone}
        first = formats.date_format(timezone.localtime(self.start).date(), "DATE_FORMAT")
        last = formats.date_format(self.last_day, "DATE_FORMAT")
        return _("From %(start)s to %(end)s inclusive (%(zone)s)") % {"start": first, "end": last, "zone": zone}

    @property
    def last_day(self) -> date:
        return timezone.localtime(self.end - timedelta(microseconds=1)).date()

    def bucket_starts(self) -> list[datetime]:
        """Every bucket's start as a UTC instant, in order."""
        if self.bucket == "hour":
            first, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
            return [first + timedelta(hours=i) for i in range(math.ceil((end - first) / timedelta(hours=1)))]
        first_day = timezone.localtime(self.start).date()
        days = (self.last_day - first_day).days + 1
        return [_local_midnight(first_day + timedelta(days=i)).astimezone(UTC) for i in range(days)]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        label=gettext_lazy("Period"), choices=PERIOD_CHOICES, required=False, widget=forms.RadioSelect
    )
    start = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        validators=[MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("To (inclusive)"),
        required=False,
        validators=[MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy("Both dates are used with “Custom dates”, at most %(days)d days apart.")
        % {"days": MAX_CUSTOM_DAYS},
    )

    def __init__(self, params: Mapping[str, Any], **kwargs: Any) -> None:
        # Read one value per field; with no choice made the default period is shown, and checked.
        data = {name: params.get(name) or "" for name in self.base_fields}
        data["period"] = data["period"] or DEFAULT_PERIOD
        super().__init__(data, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") != "custom" or "start" in self.errors or "end" in self.errors:
            return data
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            raise ValidationError(_("Custom dates need both a start and an end date."), code="incomplete")
        if end < start:
            raise ValidationError(_("The end date is before the start date."), code="reversed")
        if (end - start).days + 1 > MAX_CUSTOM_DAYS:
            raise ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_CUSTOM_DAYS}, code="too_long")
        return data

    def chosen_period(self, now: datetime) -> Period:
        """The period asked for, or the default one when the form says why it could not be used."""
        key = DEFAULT_PERIOD if "period" in self.errors else (self.cleaned_data.get("period") or DEFAULT_PERIOD)
        if key == "custom":
            if any(name in self.errors for name in ("start", "end", NON_FIELD_ERRORS)):
                key = DEFAULT_PERIOD
            else:
                return _custom_period(self.cleaned_data["start"], self.cleaned_data["end"])
        return _preset_period(key, now)


def _preset_period(key: str, now: datetime) -> Period:
    bucket, count = PRESETS[key]
    label = str(dict(PERIOD_CHOICES)[key])
    local_now = timezone.localtime(now)
    if bucket == "hour":
        # The current hour and the ones before it, so every bar covers one whole hour of the clock.
        this_hour = local_now.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return Period(this_hour - timedelta(hours=count - 1), this_hour + timedelta(hours=1), bucket, label, key)
    today = local_now.date()
    start = _local_midnight(today - timedelta(days=count - 1))
    return Period(start, _local_midnight(today + timedelta(days=1)), bucket, label, key)


def _custom_period(first: date, last: date) -> Period:
    bucket: Bucket = "hour" if (last - first).days + 1 <= HOURLY_UP_TO_DAYS else "day"
    label = _("%(start)s to %(end)s") % {
        "start": formats.date_format(first, "SHORT_DATE_FORMAT"),
        "end": formats.date_format(last, "SHORT_DATE_FORMAT"),
    }
    return Period(_local_midnight(first), _local_midnight(last + timedelta(days=1)), bucket, label, "custom")


def parse_period(params: Mapping[str, Any], now: datetime) -> Period:
    """The period that GET parameters `period`, `start` and `end` ask for; the default when they are invalid."""
    form = PeriodForm(params)
    form.is_valid()
    return form.chosen_period(now)


class DashboardForm(PeriodForm):
    portal = forms.TypedChoiceField(label=gettext_lazy("Portal"), coerce=int, required=False, empty_value=None)

    field_order = ["portal", "period", "start", "end"]

    def __init__(self, params: Mapping[str, Any], *, portals: Sequence[tuple[int, str]]) -> None:
        super().__init__(params)
        portal = cast(forms.TypedChoiceField, self.fields["portal"])
        portal.choices = [("", _("All portals")), *portals]

    def portal_id(self) -> int | None:
        return None if "portal" in self.errors else self.cleaned_data.get("portal")


# --- The numbers ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    status: str
    label: str
    count: int
    share: str
    url: str
    colour: str


@dataclass(frozen=True)
class ErrorCodeRow:
    code: str
    count: int
    url: str


@dataclass(frozen=True)
class ChannelRow:
    label: str
    count: int
    url: str


@dataclass(frozen=True)
class FunnelStep:
    name: str
    definition: str
    count: int
    of_submitted: str
    drop_off: int | None
    drop_off_share: str


@dataclass(frozen=True)
class SeriesRow:
    start: datetime
    label: str
    counts: list[int]  # in the order of Series.statuses
    total: int


@dataclass(frozen=True)
class Series:
    bucket: Bucket
    statuses: list[tuple[str, str, str]]  # value, label, colour
    rows: list[SeriesRow]
    title: str


@dataclass(frozen=True)
class RefusalRow:
    code: str
    label: str
    count: int
    url: str


# What each guard's refusal (the error code of a `blocked` attempt, signup/guards.py) is called here.
REFUSAL_LABELS = {
    "RateLimited": gettext_lazy("Rate limit"),
    "Honeypot": gettext_lazy("Honeypot filled in"),
    "TooFast": gettext_lazy("Sent too fast"),
    "FormExpired": gettext_lazy("Form expired"),
    "ChallengeMissing": gettext_lazy("Challenge not done"),
    "ChallengeInvalid": gettext_lazy("Challenge failed"),
    "ChallengeExpired": gettext_lazy("Challenge expired"),
    "ChallengeReplayed": gettext_lazy("Challenge used twice"),
    "ChallengeUnavailable": gettext_lazy("Challenge provider unreachable"),
    "EmailDomain": gettext_lazy("E-mail domain"),
    "DisposableEmail": gettext_lazy("Disposable e-mail"),
    "PhoneRegion": gettext_lazy("Phone region"),
    "PreSignupHook": gettext_lazy("Refused by the pre sign-up hook"),
    "PreSignupHookUnavailable": gettext_lazy("Pre sign-up hook unavailable"),
}


@dataclass(frozen=True)
class DashboardData:
    total: int
    statuses: list[StatusRow]
    refusals: list[RefusalRow]
    error_codes: list[ErrorCodeRow]
    other_error_codes: int
    channels: list[ChannelRow]
    funnel: list[FunnelStep]
    not_sent: int
    invalid: int
    series: Series


def percent(part: int, whole: int) -> str:
    """'12.5 %' in the active language's number format; a dash when there is nothing to divide by."""
    if not whole:
        return "—"
    # Django's number_format cuts digits off; round first so 5 of 11 reads 45.5 %, not 45.4 %.
    return f"{formats.number_format(round(100 * part / whole, 1), 1)}\u00a0%"


def changelist_url(*, portal_id: int | None, period: Period, **filters: str) -> str:
    """The attempt log narrowed to what a dashboard figure counts (lookups admin's changelist accepts)."""
    params = {**filters}
    if portal_id is not None:
        params["portal__id__exact"] = str(portal_id)
    params["created_at__gte"] = period.start.astimezone(UTC).isoformat()
    params["created_at__lt"] = period.end.astimezone(UTC).isoformat()
    return f"{reverse('admin:signup_signupattempt_changelist')}?{urlencode(params)}"


def attempts_in(*, portal_id: int | None, period: Period) -> QuerySet[SignupAttempt]:
    attempts = SignupAttempt.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if portal_id is not None:
        attempts = attempts.filter(portal_id=portal_id)
    return attempts.order_by()


def dashboard_data(*, portal_id: int | None, period: Period) -> DashboardData:
    """Six aggregate queries, whatever the number of attempts."""
    attempts = attempts_in(portal_id=portal_id, period=period)
    by_status = dict(attempts.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    funnel = attempts.aggregate(
        submitted=Count("pk", filter=~Q(status__in=NOT_SENT_STATUSES)),
        created=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        # Only created users can confirm; the condition keeps the funnel from ever widening.
        confirmed=Count("pk", filter=Q(status=Status.SUCCEEDED, confirmed_at__isnull=False)),
        not_sent=Count("pk", filter=Q(status__in=NOT_SENT_STATUSES)),
        invalid=Count("pk", filter=Q(status=Status.INVALID)),
        with_error_code=Count("pk", filter=~Q(error_code="")),
    )
    top_codes = list(
        attempts.exclude(error_code="")
        .values("error_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_code")
        .values_list("error_code", "n")[:TOP_ERROR_CODES]
    )
    refused = (
        attempts.filter(status=Status.BLOCKED)
        .values("error_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_code")
        .values_list("error_code", "n")
    )
    # Which way in (page, frame, API, command line) the attempts came: every channel is counted alike.
    by_channel = dict(attempts.values("channel").annotate(n=Count("pk")).values_list("channel", "n"))
    statuses = _statuses(by_status)
    total = sum(by_status.values())
    return DashboardData(
        total=total,
        statuses=[
            StatusRow(
                value,
                label,
                by_status.get(value, 0),
                percent(by_status.get(value, 0), total),
                changelist_url(portal_id=portal_id, period=period, status__exact=value),
                colour,
            )
            for value, label, colour in statuses
        ],
        refusals=[
            RefusalRow(
                code,
                str(REFUSAL_LABELS.get(code, code)),
                n,
                changelist_url(portal_id=portal_id, period=period, status__exact=Status.BLOCKED, error_code=code),
            )
            for code, n in refused
        ],
        error_codes=[
            ErrorCodeRow(code, n, changelist_url(portal_id=portal_id, period=period, error_code=code))
            for code, n in top_codes
        ],
        other_error_codes=funnel["with_error_code"] - sum(n for _code, n in top_codes),
        channels=[
            ChannelRow(str(label), by_channel[value], changelist_url(portal_id=portal_id, period=period, channel=value))
            for value, label in SignupAttempt.Channel.choices
            if by_channel.get(value)
        ],
        funnel=_funnel_steps(funnel["submitted"], funnel["created"], funnel["confirmed"]),
        not_sent=funnel["not_sent"],
        invalid=funnel["invalid"],
        series=_series(attempts, period, statuses),
    )


def _statuses(present: Mapping[str, int]) -> list[tuple[str, str, str]]:
    """Every known status, then any other value the table holds (a status added after this code)."""
    labels = dict(Status.choices)
    extra = sorted(set(present) - set(STATUS_ORDER))
    return [
        (value, str(labels.get(value, value)), STATUS_COLOURS.get(value, OTHER_STATUS_COLOUR))
        for value in [*STATUS_ORDER, *extra]
    ]


def _funnel_steps(submitted: int, created: int, confirmed: int) -> list[FunnelStep]:
    steps = [
        (
            _("Submitted"),
            _(
                "Attempts that reached Cognito: every status but “invalid” (refused by the form), "
                "pending and unknown outcomes included."
            ),
            submitted,
        ),
        (_("Created"), _("Cognito created the user (status “succeeded”)."), created),
        (
            _("Confirmed"),
            _("Created users who confirmed their code, or whom Cognito confirmed at once."),
            confirmed,
        ),
    ]
    result = []
    previous: int | None = None
    for name, definition, count in steps:
        drop_off = None if previous is None else previous - count
        share = "" if previous is None or drop_off is None else percent(drop_off, previous)
        result.append(FunnelStep(name, definition, count, percent(count, submitted), drop_off, share))
        previous = count
    return result


class HoursSince(Func):
    """Whole hours from `origin` to a datetime column: plain arithmetic that every database runs natively.

    Trunc with a time zone runs a Python function per row on SQLite (half a second for 100,000 attempts);
    this does not, and Python then puts each hour into its local hour or day, per group rather than per row.
    """

    output_field = IntegerField()
    template = "CAST(FLOOR((EXTRACT(EPOCH FROM %(expressions)s) - %(origin)d) / 3600) AS INTEGER)"

    def __init__(self, expression: str, *, origin: datetime) -> None:
        super().__init__(expression, origin=int(origin.timestamp()))

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # SQLite stores UTC text; strftime('%s') reads it as Unix seconds (the %%%% survives two formattings).
        template = "((CAST(strftime('%%%%s', %(expressions)s) AS INTEGER) - %(origin)d) / 3600)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _series(attempts: QuerySet[SignupAttempt], period: Period, statuses: list[tuple[str, str, str]]) -> Series:
    starts = period.bucket_starts()
    grouped = (
        attempts.annotate(hour=HoursSince("created_at", origin=starts[0]))
        .values("hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: list[dict[str, int]] = [{} for _start in starts]
    for row in grouped:
        # Buckets start on whole hours from the first one, whatever the zone's offset or clock changes do to
        # the length of a day; only a zone that shifts by half an hour would blur a bucket by that half hour.
        index = max(bisect_right(starts, starts[0] + timedelta(hours=row["hour"])) - 1, 0)
        counts[index][row["status"]] = counts[index].get(row["status"], 0) + row["n"]
    rows = []
    for start, bucket_counts in zip(starts, counts, strict=True):
        values = [bucket_counts.get(value, 0) for value, _label, _colour in statuses]
        rows.append(SeriesRow(start, _bucket_label(start, period.bucket), values, sum(values)))
    title = (
        _("Attempts per hour by outcome, %(period)s")
        if period.bucket == "hour"
        else _("Attempts per day by outcome, %(period)s")
    ) % {"period": period.label}
    return Series(period.bucket, statuses, rows, title)


def _bucket_label(start: datetime, bucket: Bucket) -> str:
    local = timezone.localtime(start)
    return formats.date_format(local, "DATETIME_FORMAT" if bucket == "hour" else "DATE_FORMAT")


# --- The chart --------------------------------------------------------------------------

WIDTH = 760
PLOT_TOP = 16
PLOT_HEIGHT = 220
PLOT_LEFT = 56
PLOT_RIGHT = 12
FONT_SIZE = 12
CHAR_WIDTH = 7  # a generous average for 12px sans-serif, to space labels without measuring text


def _nice_step(top: int, ticks: int = 4) -> int:
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)
    return max(1, int(step))


def _join(parts: Sequence[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _tick_label(start: datetime, bucket: Bucket, with_date: bool) -> str:
    local = timezone.localtime(start)
    if bucket == "day":
        return formats.date_format(local, "j M")
    return formats.date_format(local, "j M H:i" if with_date else "H:i")


def render_svg_chart(series: Series) -> SafeString:
    """A stacked bar per bucket, drawn here as inline SVG: no script, no font, nothing fetched."""
    rows = series.rows
    n = max(len(rows), 1)
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    slot = plot_width / n
    bar = max(slot * 0.7, 1.0)
    peak = max((row.total for row in rows), default=0)
    step = _nice_step(peak)
    top = max(step, step * math.ceil(peak / step))
    scale = PLOT_HEIGHT / top
    baseline = PLOT_TOP + PLOT_HEIGHT
    parts: list[SafeString] = []

    for tick in range(0, top + 1, step):
        y = baseline - tick * scale
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                PLOT_LEFT,
                WIDTH - PLOT_RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                "0.6" if tick == 0 else "0.15",
                PLOT_LEFT - 6,
                f"{y:.1f}",
                formats.number_format(tick),
            )
        )

    with_date = series.bucket == "hour" and len({timezone.localtime(r.start).date() for r in rows}) > 1
    label_chars = max((len(_tick_label(r.start, series.bucket, with_date)) for r in rows), default=1)
    every = max(1, math.ceil((label_chars * CHAR_WIDTH + 8) / slot))
    for index, row in enumerate(rows):
        x = PLOT_LEFT + index * slot + (slot - bar) / 2
        segments = []
        y = float(baseline)
        for (value, _label, colour), count in zip(series.statuses, row.counts, strict=True):
            if not count:
                continue
            height = count * scale
            y -= height
            # One pixel less than the count's height leaves a gap of page background between segments.
            segments.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="status-{}"/>',
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar:.1f}",
                    f"{max(height - 1, 0.5):.1f}",
                    colour,
                    value,
                )
            )
        detail = ", ".join(
            f"{count} {label}"
            for (_value, label, _colour), count in zip(series.statuses, row.counts, strict=True)
            if count
        )
        summary = ngettext("%(when)s: %(n)d attempt", "%(when)s: %(n)d attempts", row.total) % {
            "when": row.label,
            "n": row.total,
        }
        parts.append(
            format_html(
                '<g class="bucket"><title>{}</title>{}</g>',
                f"{summary} ({detail})" if detail else summary,
                _join(segments),
            )
        )
        if index % every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{PLOT_LEFT + (index + 0.5) * slot:.1f}",
                    baseline + FONT_SIZE + 6,
                    _tick_label(row.start, series.bucket, with_date),
                )
            )

    zone = timezone.get_current_timezone_name()
    x_title = _("Hour (%(zone)s)") % {"zone": zone} if series.bucket == "hour" else _("Day (%(zone)s)") % {"zone": zone}
    axis_y = baseline + 2 * FONT_SIZE + 14
    parts.append(
        format_html(
            '<text x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>',
            PLOT_LEFT + plot_width / 2,
            axis_y,
            x_title,
            f"{PLOT_TOP + PLOT_HEIGHT / 2:.1f}",
            _("Attempts"),
        )
    )
    legend, height = _legend(series.statuses, axis_y + 16)
    parts.append(legend)
    if not peak:
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                PLOT_LEFT + plot_width / 2,
                PLOT_TOP + PLOT_HEIGHT / 2,
                _("No attempts in this period."),
            )
        )
    total = sum(row.total for row in rows)
    description = ngettext(
        "%(n)d attempt in %(buckets)d bars; the table below the chart has every number.",
        "%(n)d attempts in %(buckets)d bars; the table below the chart has every number.",
        total,
    ) % {"n": total, "buckets": len(rows)}
    return format_html(
        '<svg class="dashboard-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-labelledby="chart-title chart-desc" viewBox="0 0 {} {}" width="100%" '
        'font-size="{}" fill="currentColor">'
        '<title id="chart-title">{}</title><desc id="chart-desc">{}</desc>{}</svg>',
        WIDTH,
        height,
        FONT_SIZE,
        series.title,
        description,
        _join(parts),
    )


def _legend(statuses: list[tuple[str, str, str]], top: int) -> tuple[SafeString, int]:
    """Swatches and names in rows that wrap at the chart's width; returns the SVG and the chart's height."""
    items = []
    x, y = PLOT_LEFT, top
    for value, label, colour in statuses:
        width = 14 + 6 + len(label) * CHAR_WIDTH + 18
        if x + width > WIDTH - PLOT_RIGHT and x > PLOT_LEFT:
            x, y = PLOT_LEFT, y + FONT_SIZE + 10
        items.append(
            format_html(
                '<rect x="{}" y="{}" width="14" height="14" fill="{}" class="status-{}"/>'
                '<text x="{}" y="{}" dominant-baseline="middle">{}</text>',
                x,
                y,
                colour,
                value,
                x + 20,
                y + 7,
                label,
            )
        )
        x += width
    return format_html('<g class="legend">{}</g>', _join(items)), y + 14 + 8


# --- The page ---------------------------------------------------------------------------


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The admin page; wrap it in `admin.site.admin_view`, which sends anonymous visitors to the login."""
    if not request.user.has_perm("signup.view_signupattempt"):
        raise PermissionDenied
    portals = [(pk, f"{name} ({slug})") for pk, name, slug in Portal.objects.values_list("pk", "name", "slug")]
    form = DashboardForm(request.GET, portals=portals)
    form.is_valid()
    period = form.chosen_period(timezone.now())
    portal_id = form.portal_id()
    data = dashboard_data(portal_id=portal_id, period=period)
    context = {
        **admin.site.each_context(request),
        "title": _("Sign-up outcomes"),
        "opts": SignupAttempt._meta,
        "form": form,
        "period": period,
        "data": data,
        "chart": render_svg_chart(data.series),
        "all_attempts_url": changelist_url(portal_id=portal_id, period=period),
    }
    return TemplateResponse(request, "admin/signup/dashboard.html", context)
