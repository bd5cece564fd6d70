"""Fault injection in the local Cognito: POST /_faults, each kind's wire answer and side effect."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from django.core.management import call_command
from django.core.management.base import CommandError
from werkzeug.test import Client

from signup.emulator.demo import create_demo_pool
from signup.emulator.faults import KINDS, OPERATIONS, FaultPlan, FaultPlanError, Faults
from signup.emulator.server import EMAIL_LIMIT_MESSAGE, make_app, start_in_thread
from signup.management.commands import emulator as emulator_command
from tests.test_emulator import AppClient, http, last_code, outbox

AMZ_JSON = "application/x-amz-json-1.1"


# --- Fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server, url = start_in_thread()
    yield url
    server.shutdown()


@pytest.fixture(autouse=True)
def _reset(base_url: str) -> Iterator[None]:
    http(base_url, "POST", "/moto-api/reset")
    yield
    http(base_url, "POST", "/moto-api/reset")  # also wakes a call still sleeping out a timeout


def cognito(base_url: str, **config: Any) -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=base_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture(scope="module")
def idp(base_url: str) -> Any:
    return cognito(base_url)


@pytest.fixture
def demo(idp: Any) -> AppClient:
    ids = create_demo_pool(idp)
    return AppClient(idp, ids["user_pool_id"], ids["client_id"], ids["client_secret"])


def set_faults(base_url: str, **plan: Any) -> dict[str, Any]:
    return http(base_url, "POST", "/_faults", plan)


def fault_log(base_url: str) -> dict[str, Any]:
    return http(base_url, "GET", "/_faults/log")


def failure(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def exists(app: AppClient, username: str) -> bool:
    try:
        app.status(username)
    except app.idp.exceptions.UserNotFoundException:
        return False
    return True


def raw_sign_up(base_url: str, app: AppClient, username: str = "alice") -> requests.Response:
    body = {
        "ClientId": app.client_id,
        "SecretHash": app.hash(username),
        "Username": username,
        "Password": "Str0ng!Passw0rd",
        "UserAttributes": [{"Name": "email", "Value": "alice@example.com"}],
    }
    headers = {"Content-Type": AMZ_JSON, "X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp"}
    return requests.post(base_url + "/", json=body, headers=headers, timeout=5)


# --- The plan ------------------------------------------------------------------------------------


def test_there_is_no_plan_until_one_is_set(base_url: str) -> None:
    plan = http(base_url, "GET", "/_faults")

    assert plan["active"] is False
    assert plan["rate"] == 0 and plan["latency_ms"] == 0
    assert plan["seed"] is None


def test_a_plan_takes_defaults_for_the_keys_it_leaves_out(base_url: str) -> None:
    answered = set_faults(base_url, rate=0.05, seed=123)

    assert answered == {
        "rate": 0.05,
        "latency_ms": 0.0,
        "latency_jitter_ms": 0.0,
        "kinds": list(KINDS),
        "operations": list(OPERATIONS),
        "seed": 123,
        "timeout_ms": 15000.0,
        "active": True,
    }
    assert http(base_url, "GET", "/_faults") == answered


def test_a_plan_without_seed_gets_one_it_reports(base_url: str) -> None:
    assert isinstance(set_faults(base_url, rate=0.5)["seed"], int)


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ({"rate": 1.5}, "rate must be a number from 0 to 1"),
        ({"rate": "0.1"}, "rate must be a number from 0 to 1"),
        ({"rate": True}, "rate must be a number from 0 to 1"),
        ({"kinds": []}, "kinds must be a non-empty list"),
        ({"kinds": "throttle"}, "kinds must be a non-empty list"),
        ({"kinds": ["throttle", "meteor"]}, "kinds: unknown 'meteor'"),
        ({"kinds": ["throttle", "throttle"]}, "listed twice"),
        ({"operations": ["DescribeUserPool"]}, "operations: unknown 'DescribeUserPool'"),
        ({"operations": ["AdminGetUser"]}, "operations: unknown 'AdminGetUser'"),
        ({"seed": 1.5}, "seed must be an integer or null"),
        ({"latency_ms": -1}, "latency_ms must be a number of milliseconds"),
        ({"timeout_ms": 10**9}, "timeout_ms must be a number of milliseconds"),
        ({"latency_ms": 10, "latency_jitter_ms": 20}, "latency_jitter_ms must not exceed latency_ms"),
        ({"kinds": ["limit_after_create"], "operations": ["ConfirmSignUp"]}, "applies to SignUp only"),
        ({"rates": 0.1}, "unknown key 'rates'"),
        ([0.1], "send a JSON object"),
    ],
)
def test_it_refuses_a_bad_plan_with_a_clear_400(base_url: str, plan: Any, problem: str) -> None:
    set_faults(base_url, rate=0.25, seed=1)

    answered = requests.post(base_url + "/_faults", json=plan, timeout=5)

    assert answered.status_code == 400
    assert answered.json()["message"].startswith("Invalid fault plan: ")
    assert any(problem in text for text in answered.json()["problems"])
    assert http(base_url, "GET", "/_faults")["rate"] == 0.25  # the previous plan stays


def test_it_refuses_a_body_that_is_not_json(base_url: str) -> None:
    answered = requests.post(base_url + "/_faults", data=b"rate=1", timeout=5)

    assert answered.status_code == 400
    assert "not JSON" in answered.json()["message"]


def test_it_lists_every_problem_of_a_plan_at_once(base_url: str) -> None:
    answered = requests.post(base_url + "/_faults", json={"rate": 2, "kinds": ["x"], "seed": "s"}, timeout=5)

    assert len(answered.json()["problems"]) == 3


def test_delete_clears_the_plan_but_keeps_the_log(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["throttle"])
    failure(lambda: demo.sign_up("alice"))

    http(base_url, "DELETE", "/_faults")

    assert http(base_url, "GET", "/_faults")["active"] is False
    assert demo.sign_up("alice")["UserConfirmed"] is False
    assert fault_log(base_url)["total"] == 1


def test_the_log_can_be_emptied(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["throttle"])
    failure(lambda: demo.sign_up("alice"))

    http(base_url, "DELETE", "/_faults/log")

    assert fault_log(base_url) == {"total": 0, "counts": {}, "users_created": 0, "calls": {}, "faults": []}


def test_moto_reset_clears_the_plan_and_the_log(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["throttle"], latency_ms=5)
    failure(lambda: demo.sign_up("alice"))

    http(base_url, "POST", "/moto-api/reset")

    assert http(base_url, "GET", "/_faults")["active"] is False
    assert fault_log(base_url)["total"] == 0


# --- Each kind on SignUp: the wire answer and what it leaves behind ------------------------------


def test_throttle_answers_400_too_many_requests_and_creates_nothing(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["throttle"])

    assert failure(lambda: demo.sign_up("alice")) == (400, "TooManyRequestsException", "Rate exceeded")
    assert not exists(demo, "alice")
    assert outbox(base_url) == []


def test_internal_answers_500_and_creates_nothing(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["internal"])

    assert failure(lambda: demo.sign_up("alice")) == (500, "InternalErrorException", "Internal error")
    assert not exists(demo, "alice")


def test_error_after_create_answers_500_but_the_user_exists(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["error_after_create"])

    assert failure(lambda: demo.sign_up("alice")) == (500, "InternalErrorException", "Internal error")
    assert demo.status("alice") == "UNCONFIRMED"
    assert len(outbox(base_url, "?username=alice")) == 1  # the code went out too

    http(base_url, "DELETE", "/_faults")
    # The retry hazard of docs/cognito.md §7.1: the retry meets the user the failed call created.
    assert failure(lambda: demo.sign_up("alice"))[1] == "UsernameExistsException"


def test_after_create_kinds_pass_a_refusal_through(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    set_faults(base_url, rate=1, kinds=["error_after_create"])

    assert failure(lambda: demo.sign_up("alice"))[:2] == (400, "UsernameExistsException")
    [logged] = fault_log(base_url)["faults"]
    assert logged["created"] is False and logged["answer"] == "UsernameExistsException"


def test_limit_after_create_creates_the_user_but_sends_no_code(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["limit_after_create"])

    assert failure(lambda: demo.sign_up("alice")) == (400, "LimitExceededException", EMAIL_LIMIT_MESSAGE)
    assert demo.status("alice") == "UNCONFIRMED"
    assert outbox(base_url) == []

    http(base_url, "DELETE", "/_faults")
    demo.resend("alice")
    demo.confirm("alice", last_code(base_url, "alice"))
    assert demo.status("alice") == "CONFIRMED"


def test_timeout_creates_the_user_and_answers_too_late(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["timeout"], timeout_ms=3000)
    impatient = AppClient(cognito(base_url, read_timeout=0.3), demo.pool_id, demo.client_id, demo.secret)

    with pytest.raises(ReadTimeoutError):
        impatient.sign_up("alice")

    assert demo.status("alice") == "UNCONFIRMED"
    [logged] = fault_log(base_url)["faults"]
    assert (logged["kind"], logged["created"], logged["status"], logged["answer"]) == ("timeout", True, 200, "ok")


def test_timeout_sends_the_normal_answer_to_a_patient_client(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["timeout"], timeout_ms=50)

    started = time.monotonic()
    assert demo.sign_up("alice")["UserConfirmed"] is False
    assert time.monotonic() - started >= 0.05


def test_garbage_answers_200_with_a_body_that_is_not_json(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["garbage"])

    answered = raw_sign_up(base_url, demo)

    assert answered.status_code == 200
    assert answered.headers["Content-Type"] == AMZ_JSON
    assert answered.content == b"<html>oops</html>"
    assert not exists(demo, "alice")


def test_boto3_takes_garbage_for_an_empty_success(base_url: str, demo: AppClient) -> None:
    # botocore parses a non-JSON 200 as {"message": body}: no error, and no UserSub either.
    set_faults(base_url, rate=1, kinds=["garbage"])

    response = demo.sign_up("alice")

    assert "UserSub" not in response and "UserConfirmed" not in response


def test_refuse_drops_the_connection_and_creates_nothing(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["refuse"])

    with pytest.raises(ConnectionClosedError):
        demo.sign_up("alice")
    with pytest.raises(requests.ConnectionError):
        raw_sign_up(base_url, demo)

    assert not exists(demo, "alice")
    assert [entry["status"] for entry in fault_log(base_url)["faults"]] == [None, None]


def test_refuse_answers_an_empty_502_where_there_is_no_socket_to_drop() -> None:
    app = make_app(faults=FaultPlan(rate=1, kinds=("refuse",)))
    headers = {"X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp"}

    answered = Client(app).post("/", json={"ClientId": "c", "Username": "alice"}, headers=headers)

    assert (answered.status_code, answered.data) == (502, b"")


# --- The other two operations --------------------------------------------------------------------


def test_error_after_create_on_confirm_confirms_and_answers_500(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    set_faults(base_url, rate=1, kinds=["error_after_create"], operations=["ConfirmSignUp"])

    assert failure(lambda: demo.confirm("alice", last_code(base_url, "alice")))[:2] == (500, "InternalErrorException")
    assert demo.status("alice") == "CONFIRMED"
    [logged] = fault_log(base_url)["faults"]
    assert (logged["operation"], logged["created"], logged["completed"]) == ("ConfirmSignUp", False, True)


def test_a_throttled_resend_sends_no_code(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    set_faults(base_url, rate=1, kinds=["throttle"], operations=["ResendConfirmationCode"])

    assert failure(lambda: demo.resend("alice"))[1] == "TooManyRequestsException"
    assert len(outbox(base_url)) == 1


def test_limit_after_create_never_strikes_confirm_or_resend(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    set_faults(base_url, rate=1, kinds=["limit_after_create", "internal"], operations=["ResendConfirmationCode"])

    for _ in range(3):
        assert failure(lambda: demo.resend("alice"))[1] == "InternalErrorException"


def test_only_the_plans_operations_get_faults(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["internal"], operations=["ConfirmSignUp"])

    assert demo.sign_up("alice")["UserConfirmed"] is False


def test_admin_and_describe_calls_never_get_faults(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    set_faults(base_url, rate=1, kinds=list(KINDS), timeout_ms=60_000)

    demo.idp.describe_user_pool(UserPoolId=demo.pool_id)
    demo.idp.describe_user_pool_client(UserPoolId=demo.pool_id, ClientId=demo.client_id)
    demo.idp.list_users(UserPoolId=demo.pool_id)
    demo.idp.admin_confirm_sign_up(UserPoolId=demo.pool_id, Username="alice")

    assert demo.status("alice") == "CONFIRMED"
    assert fault_log(base_url)["total"] == 0


# --- Rate, seeds and latency ---------------------------------------------------------------------


def _faulted_calls(base_url: str, idp: Any, plan: dict[str, Any]) -> list[tuple[str, str]]:
    http(base_url, "POST", "/moto-api/reset")
    ids = create_demo_pool(idp)
    app = AppClient(idp, ids["user_pool_id"], ids["client_id"], ids["client_secret"])
    set_faults(base_url, **plan)
    for number in range(24):
        with contextlib.suppress(ClientError):
            app.sign_up(f"user{number}")
    return [(entry["username"], entry["kind"]) for entry in fault_log(base_url)["faults"]]


def test_a_seed_replays_the_same_faults(base_url: str, idp: Any) -> None:
    plan = {"rate": 0.5, "kinds": ["throttle", "internal", "error_after_create", "limit_after_create"], "seed": 42}

    first = _faulted_calls(base_url, idp, plan)

    assert 0 < len(first) < 24  # some calls fail, some do not
    assert len({kind for _, kind in first}) > 1
    assert _faulted_calls(base_url, idp, plan) == first
    assert _faulted_calls(base_url, idp, {**plan, "seed": 43}) != first


def test_rate_one_faults_every_call_and_rate_zero_none() -> None:
    always, never = Faults(FaultPlan(rate=1, seed=1)), Faults(FaultPlan(rate=0, latency_ms=1, seed=1))

    assert all(always.draw("SignUp").kind in KINDS for _ in range(50))
    assert all(never.draw("SignUp").kind is None for _ in range(50))


def test_kinds_are_drawn_from_the_plan_only() -> None:
    faults = Faults(FaultPlan(rate=1, kinds=("throttle", "garbage"), seed=7))

    drawn = {faults.draw("SignUp").kind for _ in range(200)}

    assert drawn == {"throttle", "garbage"}


def test_a_new_plan_restarts_the_sequence() -> None:
    faults = Faults()
    plan = FaultPlan(rate=0.5, latency_ms=10, latency_jitter_ms=5, seed=9)

    faults.set_plan(plan)
    first = [faults.draw("SignUp") for _ in range(30)]
    faults.set_plan(plan)

    assert [faults.draw("SignUp") for _ in range(30)] == first


def test_latency_delays_the_answer(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, latency_ms=200)

    started = time.monotonic()
    demo.sign_up("alice")

    assert time.monotonic() - started >= 0.2


def test_jitter_keeps_the_delay_within_latency_plus_or_minus_jitter() -> None:
    faults = Faults(FaultPlan(latency_ms=100, latency_jitter_ms=40, seed=3))

    delays = [faults.draw("ConfirmSignUp").latency_seconds for _ in range(200)]

    assert all(0.06 <= delay <= 0.14 for delay in delays)
    assert len(set(delays)) > 1


def test_latency_leaves_operations_outside_the_plan_alone() -> None:
    faults = Faults(FaultPlan(latency_ms=100, operations=("SignUp",)))

    assert faults.draw("ConfirmSignUp").latency_seconds == 0


def test_changing_the_plan_wakes_a_sleeping_call() -> None:
    faults = Faults()
    sleeper = threading.Thread(target=faults.sleep, args=(30,))
    sleeper.start()
    time.sleep(0.05)

    faults.clear_plan()
    sleeper.join(timeout=5)

    assert not sleeper.is_alive()


def test_a_plan_checks_itself() -> None:
    with pytest.raises(FaultPlanError, match="rate"):
        FaultPlan.from_json({"rate": -0.1})
    assert FaultPlan.from_json({}) == FaultPlan()


# --- Counting: the log and /_users ---------------------------------------------------------------


def test_the_log_lists_faults_newest_last_with_counts(base_url: str, demo: AppClient) -> None:
    set_faults(base_url, rate=1, kinds=["throttle"])
    failure(lambda: demo.sign_up("alice"))
    set_faults(base_url, rate=1, kinds=["error_after_create"])
    failure(lambda: demo.sign_up("bob", attributes={**_ATTRIBUTES, "email": "bob@example.com"}))
    http(base_url, "DELETE", "/_faults")
    demo.sign_up("carol", attributes={**_ATTRIBUTES, "email": "carol@example.com"})

    log = fault_log(base_url)

    assert [(entry["seq"], entry["kind"], entry["username"]) for entry in log["faults"]] == [
        (1, "throttle", "alice"),
        (2, "error_after_create", "bob"),
    ]
    assert log["counts"] == {"throttle": 1, "error_after_create": 1}
    assert log["users_created"] == 1
    assert log["calls"] == {"SignUp": 3}
    bob = log["faults"][1]
    assert bob["created"] is True and bob["status"] == 500 and bob["client_id"] == demo.client_id
    assert bob["user_sub"] == demo.attributes("bob")["sub"]


_ATTRIBUTES = {"given_name": "Test", "family_name": "User"}


def test_users_lists_every_user_of_a_pool(base_url: str, demo: AppClient) -> None:
    for number in range(65):  # more than one ListUsers page
        demo.sign_up(f"user{number}", attributes={**_ATTRIBUTES, "email": f"user{number}@example.com"})

    listed = http(base_url, "GET", f"/_users?user_pool_id={demo.pool_id}")

    assert listed["count"] == 65 == len(listed["users"])
    first = listed["users"][0]
    assert (first["username"], first["status"], first["enabled"]) == ("user0", "UNCONFIRMED", True)
    assert first["attributes"]["email"] == "user0@example.com"


@pytest.mark.parametrize(("query", "status"), [("", 400), ("?user_pool_id=us-east-1_nope", 404)])
def test_users_needs_a_known_pool(base_url: str, query: str, status: int) -> None:
    assert requests.get(base_url + "/_users" + query, timeout=5).status_code == status


# --- python manage.py emulator -------------------------------------------------------------------


def parse(*argv: str) -> dict[str, Any]:
    parser = emulator_command.Command().create_parser("manage.py", "emulator")
    return vars(parser.parse_args(list(argv)))


def test_the_command_parses_the_fault_options() -> None:
    options = parse(
        "--fault-rate",
        "0.05",
        "--latency-ms",
        "20",
        "--latency-jitter-ms",
        "5",
        "--fault-kinds",
        "throttle, internal",
        "--fault-operations",
        "SignUp",
        "--fault-seed",
        "7",
        "--fault-timeout-ms",
        "1000",
    )

    plan = emulator_command.fault_plan_from_options(options, environ={})

    assert plan == FaultPlan(
        rate=0.05,
        latency_ms=20,
        latency_jitter_ms=5,
        kinds=("throttle", "internal"),
        operations=("SignUp",),
        seed=7,
        timeout_ms=1000,
    )


def test_the_command_starts_without_faults_by_default() -> None:
    assert emulator_command.fault_plan_from_options(parse(), environ={}) is None


def test_the_command_picks_a_seed_it_can_print() -> None:
    plan = emulator_command.fault_plan_from_options(parse("--fault-rate", "0.1"), environ={})

    assert plan is not None and isinstance(plan.seed, int)


def test_the_command_reads_the_environment_and_options_win() -> None:
    environ = {"EMULATOR_FAULT_RATE": "0.2", "EMULATOR_FAULT_KINDS": "garbage,refuse", "EMULATOR_LATENCY_MS": "5"}

    plan = emulator_command.fault_plan_from_options(parse("--fault-rate", "0.3"), environ=environ)

    assert plan is not None
    assert (plan.rate, plan.kinds, plan.latency_ms) == (0.3, ("garbage", "refuse"), 5)


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--fault-rate", "2"], {}, "rate must be a number from 0 to 1"),
        (["--fault-kinds", "throttle,meteor"], {}, "unknown 'meteor'"),
        ([], {"EMULATOR_FAULT_SEED": "abc"}, "EMULATOR_FAULT_SEED='abc' is not valid"),
    ],
)
def test_the_command_refuses_a_bad_plan(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        emulator_command.fault_plan_from_options(parse(*argv), environ=environ)


def test_the_command_starts_the_server_with_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, variable, _ in emulator_command.FAULT_OPTIONS.values():
        monkeypatch.delenv(variable, raising=False)
    started: dict[str, Any] = {}

    def fake_serve_forever(host: str, port: int, on_ready: Callable[[str], None], faults: FaultPlan) -> None:
        started.update(host=host, port=port, faults=faults)
        on_ready("http://127.0.0.1:9229")

    monkeypatch.setattr(emulator_command, "serve_forever", fake_serve_forever)
    out = io.StringIO()

    call_command("emulator", "--fault-rate", "0.05", "--latency-ms", "20", "--fault-seed", "5", stdout=out)

    assert started["faults"] == FaultPlan(rate=0.05, latency_ms=20, seed=5)
    assert "Fault injection: rate 0.05" in out.getvalue() and "seed 5" in out.getvalue()


def test_the_command_rejects_a_bad_option_value() -> None:
    with pytest.raises(CommandError):
        call_command("emulator", "--fault-rate", "lots")
