"""Before going live: what a portal needs from Cognito, IAM and its own settings, checked by calls that
change nothing (`manage.py portal check`, admin's "Check before going live"; docs/deploy.md).

One finding per line. A `fail` stops sign-ups or an operator's action: a missing permission, a pool or
client that does not exist, an unreachable secret, a schema that has drifted, an http origin in
production. A `warn` is worth reading but may be meant (a closed portal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from . import captcha, cognito, operators, permissions
from .models import Portal

OK, WARN, FAIL = "ok", "warn", "fail"
NOT_FOUND = "ResourceNotFoundException"
DESCRIBE = ("DescribeUserPool", "DescribeUserPoolClient")


@dataclass(frozen=True)
class Finding:
    level: str
    text: str

    @property
    def blocks(self) -> bool:
        return self.level == FAIL


def portal_check(*, portal: Portal, omit: Iterable[str] = ()) -> list[Finding]:
    """Every finding for one portal, in the order an operator would fix them."""
    findings: list[Finding] = []
    left_out = tuple(omit)
    if not portal.is_synced:
        text = _("Never synced, so there is no form: run python manage.py portal sync %(slug)s.")
        findings.append(Finding(FAIL, text % {"slug": portal.slug}))
    if not _identity(portal, findings):
        _settings(portal, findings)
        return findings
    results = _probe(portal, left_out, findings)
    if all(action in results and results[action] is None for action in DESCRIBE):
        _pool_and_schema(portal, findings)
    elif not any(r is not None and r.code == NOT_FOUND for r in results.values()):
        why = _("ReadPoolAndClient is left out") if "ReadPoolAndClient" in left_out else _("it cannot be read")
        findings.append(Finding(WARN, _("The pool's schema was not compared with the form: %(why)s.") % {"why": why}))
    gone = next((r for r in results.values() if r is not None and r.code == NOT_FOUND), None)
    _secret(portal, findings, results.get("DescribeUserPoolClient", gone or UNPROBED))
    _settings(portal, findings)
    return findings


# DescribeUserPoolClient not probed (its features were left out): the secret is read as the portal would.
UNPROBED = cognito.CognitoFailure("not probed", code="NotProbed")


def _identity(portal: Portal, findings: list[Finding]) -> bool:
    """Whose permissions the check proves: the standard chain's identity. False when there is none."""
    try:
        arn = cognito.caller_arn(portal.target)
    except cognito.NoCredentials as error:
        text = _("No AWS credentials: %(error)s. Give the task or instance a role with the policy iam_policy prints.")
        findings.append(Finding(FAIL, text % {"error": error.message}))
        return False
    except cognito.CognitoFailure as error:
        text = _("Which AWS identity runs this check is unknown (%(code)s); the permissions below are its.")
        findings.append(Finding(WARN, text % {"code": error.code}))
        return True
    text = _("The permissions below are those of %(arn)s: run the check with the portal's own role.")
    findings.append(Finding(OK, text % {"arn": arn}))
    return True


def _resource(portal: Portal) -> str:
    try:
        return permissions.pool_arn(portal)
    except permissions.UnknownArn:
        return _("the pool %(pool)s") % {"pool": portal.user_pool_id}


def _probe(portal: Portal, omit: tuple[str, ...], findings: list[Finding]) -> dict[str, cognito.CognitoFailure | None]:
    """Each action of the portal's policy, proven by a dry call; stops at a pool that does not exist."""
    resource = _resource(portal)
    results: dict[str, cognito.CognitoFailure | None] = {}
    for action, features in permissions.needs(portal, omit).items():
        failure = results[action] = cognito.probe(portal.target, action)
        values = {"permission": f"cognito-idp:{action}", "resource": resource}
        if failure is None:
            findings.append(Finding(OK, _("%(permission)s is allowed on %(resource)s.") % values))
        elif failure.permission:
            values["sids"] = ", ".join(feature.sid for feature in features)
            values["purpose"] = "; ".join(str(feature.purpose) for feature in features)
            text = _("Missing IAM permission %(permission)s on %(resource)s (Sid %(sids)s), needed for %(purpose)s.")
            findings.append(Finding(FAIL, text % values))
        elif failure.code == NOT_FOUND:
            findings.append(Finding(FAIL, _("Cognito says: %(message)s") % {"message": failure.message}))
            if action != "DescribeUserPoolClient":
                break  # the pool is not there: no other call can be proven on it
        else:
            values["code"] = failure.code
            findings.append(Finding(FAIL, _("%(permission)s could not be checked: %(code)s.") % values))
    return results


def _pool_and_schema(portal: Portal, findings: list[Finding]) -> None:
    try:
        drift = operators.portal_drift(portal=portal, fresh=True)
    except cognito.CognitoFailure as error:
        text = _("The pool could not be read: %(error)s.") % {"error": operators.failure_text(error)}
        findings.append(Finding(FAIL, text))
        return
    live = drift.live
    if not portal.is_synced:
        return  # said first: without a snapshot there is nothing to compare
    values = {
        "pool": portal.user_pool_id,
        "pool_name": live.get("pool_name", ""),
        "client": portal.client_id,
        "client_name": live.get("client_name", ""),
    }
    text = _("User pool %(pool)s (%(pool_name)s) and app client %(client)s (%(client_name)s) exist.")
    findings.append(Finding(OK, text % values))
    if live.get("admin_create_only"):
        text = _("The pool lets only administrators create users: Cognito refuses every SignUp.")
        findings.append(Finding(FAIL, text))
    for change in drift.changes:
        text = _("Changed in Cognito since the last sync: %(change)s (python manage.py portal sync %(slug)s).")
        findings.append(Finding(FAIL, text % {"change": change, "slug": portal.slug}))
    if not drift.drifted:
        findings.append(Finding(OK, _("The form matches the pool and the client.")))


def _secret(portal: Portal, findings: list[Finding], described: cognito.CognitoFailure | None) -> None:
    """The client secret where the portal gets it. `described` is DescribeUserPoolClient's dry call: None
    when it worked, so a secret from a variable is compared with the client's; a refusal or a missing
    client was reported already and is not reported again as an unreachable secret."""
    if not portal.is_synced:
        return
    if not portal.target.has_secret:
        findings.append(Finding(OK, _("The app client has no secret.")))
        return
    if not portal.client_secret_env and described is not None and described is not UNPROBED:
        return
    try:
        secret = cognito.client_secret(portal.target)
    except cognito.SecretUnavailable as error:
        detail = operators.failure_text(error) if error.permission else error.message
        findings.append(Finding(FAIL, _("The client secret is not reachable: %(error)s.") % {"error": detail}))
        return
    if not portal.client_secret_env:
        findings.append(Finding(OK, _("The client secret is read with DescribeUserPoolClient.")))
        return
    values = {"name": portal.client_secret_env}
    if described is None and secret is not None and not cognito.is_client_secret(portal.target, secret):
        text = _("The variable %(name)s does not hold the app client's secret: Cognito would refuse every sign-up.")
        findings.append(Finding(FAIL, text % values))
        return
    findings.append(Finding(OK, _("The client secret comes from the variable %(name)s.") % values))


def _settings(portal: Portal, findings: list[Finding]) -> None:
    if not portal.is_open:
        text = _("The portal is closed to sign-ups (python manage.py portal update %(slug)s --open).")
        findings.append(Finding(WARN, text % {"slug": portal.slug}))
    provider = captcha.PROVIDERS.get(portal.challenge)
    if provider is not None:
        if not portal.challenge_site_key:
            findings.append(Finding(FAIL, _("The challenge has no site key: the widget cannot be shown.")))
        if not captcha.secret_for(provider, portal.challenge_secret_env):
            name = portal.challenge_secret_env or provider.secret_env_default
            text = _("The challenge's secret (%(name)s) is empty: every sign-up would be refused.")
            findings.append(Finding(FAIL, text % {"name": name}))
    plain = [origin for origin in [*portal.embed_origins, *portal.api_origins] if not origin.startswith("https://")]
    if settings.PRODUCTION:
        for origin in plain:
            text = _("%(origin)s is not an https origin: in production only https sites may frame or call the portal.")
            findings.append(Finding(FAIL, text % {"origin": origin}))
        if not plain:
            findings.append(Finding(OK, _("Every embed and API origin uses https.")))
