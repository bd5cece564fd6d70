"""Server-side CAPTCHA checks against a local stand-in for each provider's verify API: what passes, what
fails, and every way of getting no usable answer ending as UNAVAILABLE (the caller fails closed)."""

import socket
import time
from urllib.parse import urlsplit

import pytest

from signup import captcha
from signup.captcha import HCAPTCHA, PROVIDERS, TURNSTILE, Verdict
from tests.captcha_standin import GOOD_TOKEN, SECRET

IP = "203.0.113.7"


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request):
    return PROVIDERS[request.param]


def check(provider, token=GOOD_TOKEN, *, secret=SECRET, remote_ip=IP, site_key=""):
    return captcha.verify(provider, token, secret=secret, remote_ip=remote_ip, site_key=site_key)


def test_a_good_token_passes(provider, captcha_standin):
    assert check(provider) == captcha.Check(Verdict.PASSED, ())
    assert len(captcha_standin.requests) == 1


def test_a_token_the_provider_refuses_fails_with_its_code(provider, captcha_standin):
    assert check(provider, "forged") == captcha.Check(Verdict.FAILED, ("invalid-input-response",))


def test_a_wrong_secret_is_unavailable_with_the_providers_code(provider, captcha_standin):
    # The operator's mistake, not the visitor's: nobody can pass until it is fixed. FAILED would count every
    # visitor as a bot and ask them to solve a challenge again that cannot succeed; UNAVAILABLE refuses just
    # the same (fail closed), tells the visitor to try later, and the code tells the operator what to fix.
    result = check(provider, secret="rotated-away")
    assert result.verdict == Verdict.UNAVAILABLE
    assert result.error_codes == ("invalid-input-secret",)


def test_a_slow_provider_is_unavailable_after_about_the_timeout(provider, captcha_standin, settings):
    captcha_standin.mode = "slow"
    started = time.monotonic()
    result = check(provider)
    elapsed = time.monotonic() - started
    assert result == captcha.Check(Verdict.UNAVAILABLE, reason="timeout")
    assert settings.SIGNUP_CAPTCHA_TIMEOUT_SECONDS * 0.8 <= elapsed < settings.SIGNUP_CAPTCHA_TIMEOUT_SECONDS + 1


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("error", "http 500"),  # its body says success: an error status is no answer all the same
        ("not-json", "not json"),
        ("no-verdict", "not a verify answer"),  # "success": "true", a string
        ("redirect", "http 302"),  # not followed: the target would say success
        ("hang-up", "no answer"),
        ("huge", "answer too long"),  # it says success, but no verify API sends 100 kB
    ],
)
def test_no_usable_answer_is_unavailable(provider, captcha_standin, mode, reason):
    captcha_standin.mode = mode
    assert check(provider) == captcha.Check(Verdict.UNAVAILABLE, reason=reason)
    assert len(captcha_standin.requests) == 1  # the answer, not the request, was the trouble


def test_a_refused_connection_is_unavailable(provider, settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections to it are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/siteverify"
        settings.TURNSTILE_VERIFY_URL = settings.HCAPTCHA_VERIFY_URL = url
        assert check(provider) == captcha.Check(Verdict.UNAVAILABLE, reason="unreachable")


@pytest.mark.parametrize("url", ["", "siteverify", "file:///etc/hostname", "ftp://127.0.0.1/siteverify"])
def test_a_verify_url_that_is_not_http_is_unavailable(provider, settings, url):
    settings.TURNSTILE_VERIFY_URL = settings.HCAPTCHA_VERIFY_URL = url
    assert check(provider) == captcha.Check(Verdict.UNAVAILABLE, reason="verify URL not http(s)")


def test_tokens_that_cannot_be_one_never_reach_the_provider(provider, captcha_standin):
    longest = "t" * provider.max_token_length
    assert check(provider, "") == captcha.Check(Verdict.FAILED, reason="no token")
    assert check(provider, longest + "t") == captcha.Check(Verdict.FAILED, reason="token too long")
    assert captcha_standin.requests == []
    assert check(provider, longest).verdict == Verdict.FAILED  # the longest allowed is the provider's to judge
    assert [fields["response"] for fields in captcha_standin.requests] == [longest]


def test_turnstile_tokens_stop_at_the_documented_2048_but_long_hcaptcha_ones_go_through(captcha_standin):
    # Cloudflare documents 2048 characters at most; hCaptcha documents no limit and its tokens run longer.
    assert check(TURNSTILE, "t" * 2049).reason == "token too long"
    assert check(HCAPTCHA, "h" * 4100).error_codes == ("invalid-input-response",)
    assert [len(fields["response"]) for fields in captcha_standin.requests] == [4100]


def test_no_secret_is_unavailable_without_a_request(provider, captcha_standin):
    assert check(provider, secret="") == captcha.Check(Verdict.UNAVAILABLE, reason="no secret")
    assert captcha_standin.requests == []


def test_the_request_carries_secret_token_address_and_for_hcaptcha_the_site_key(provider, captcha_standin):
    check(provider, site_key="site-key-1")
    check(provider, remote_ip=None)
    with_ip, without_ip = captcha_standin.requests
    expected = {"secret": SECRET, "response": GOOD_TOKEN, "remoteip": IP}
    if provider is HCAPTCHA:
        expected["sitekey"] = "site-key-1"
    assert with_ip == expected
    assert without_ip == {"secret": SECRET, "response": GOOD_TOKEN}


def test_each_providers_script_is_allowed_by_its_own_sources(provider):
    def allows(source, origin):
        scheme, _, host = source.partition("://")
        wanted_scheme, _, wanted_host = origin.partition("://")
        if scheme != wanted_scheme:
            return False
        return host == wanted_host or (host.startswith("*.") and wanted_host.endswith(host[1:]))

    script = urlsplit(provider.script_url)
    assert any(allows(source, f"{script.scheme}://{script.netloc}") for source in provider.csp["script-src"])
    assert provider.csp["frame-src"]  # both render the challenge in a frame from their own host
    assert provider.verify_url_setting in ("TURNSTILE_VERIFY_URL", "HCAPTCHA_VERIFY_URL")
    with pytest.raises(TypeError):
        provider.csp["script-src"] = ("https:",)  # shared by every portal: nobody widens it by accident
    assert hash(provider) == hash(PROVIDERS[provider.name])


def test_secret_for_reads_the_variable_then_its_file(provider, monkeypatch, tmp_path):
    name = provider.secret_env_default
    monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(f"{name}_FILE", raising=False)
    assert captcha.secret_for(provider) == ""

    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")
    monkeypatch.setenv(f"{name}_FILE", str(secret_file))
    assert captcha.secret_for(provider) == "from-the-file"

    monkeypatch.setenv(name, "from-the-variable")
    assert captcha.secret_for(provider) == "from-the-variable"

    monkeypatch.delenv(name)
    secret_file.unlink()
    assert captcha.secret_for(provider) == ""  # an unreadable file is no secret (UNAVAILABLE), not an error


def test_secret_for_a_portals_own_variable(provider, monkeypatch):
    monkeypatch.setenv("ACME_CAPTCHA_SECRET", "acme-secret")
    monkeypatch.setenv(provider.secret_env_default, "default-secret")
    assert captcha.secret_for(provider, "ACME_CAPTCHA_SECRET") == "acme-secret"
