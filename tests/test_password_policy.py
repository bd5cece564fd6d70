"""The pool's password policy, enforced exactly as Cognito does (docs/cognito.md §3.4)."""

import pytest

from signup.schema import PasswordPolicy

STRICT = PasswordPolicy(minimum_length=10)


@pytest.mark.parametrize(
    ("password", "failures"),
    [
        ("Abcdefgh1!", []),
        ("Abcdefg1!", ["password_too_short"]),
        ("abcdefgh1!", ["password_no_upper"]),
        ("ABCDEFGH1!", ["password_no_lower"]),
        ("Abcdefghi!", ["password_no_number"]),
        ("Abcdefghi1", ["password_no_symbol"]),
        ("Abcd efgh1", []),  # an inner space counts as a symbol
        (" Abcdefgh1!", ["password_edge_space"]),
        ("Abcdefgh1! ", ["password_edge_space"]),
        ("Ab1!" + "x" * 252, []),
        ("Ab1!" + "x" * 253, ["password_too_long"]),
        ("Ábcdefgh1!", ["password_no_upper"]),  # only Basic Latin A-Z counts as uppercase
        ("Abcdefgh1=", []),  # = and + joined the symbol set
        ("Abcdefgh1+", []),
        ("Abcdefgh1€", ["password_no_symbol"]),
    ],
)
def test_it_enforces_each_rule(password, failures):
    assert STRICT.failures(password) == failures


def test_each_symbol_in_cognitos_set_counts():
    for symbol in "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-":
        assert STRICT.failures(f"Abcdefgh1{symbol}") == [], symbol


def test_a_relaxed_policy_checks_only_what_it_asks():
    relaxed = PasswordPolicy(
        minimum_length=6, require_uppercase=False, require_lowercase=False, require_numbers=False, require_symbols=False
    )
    assert relaxed.failures("aaaaaa") == []
    assert relaxed.failures("aaaaa") == ["password_too_short"]


def test_the_rules_shown_to_users_follow_the_policy():
    relaxed = PasswordPolicy(minimum_length=6, require_uppercase=False, require_symbols=False)
    codes = [code for code, _ in relaxed.rules()]
    assert codes == ["password_too_short", "password_no_lower", "password_no_number"]
    assert "6" in str(relaxed.rules()[0][1])
