"""Redaction is pure: secrets disappear from nested data and free text, everything else stays."""

from __future__ import annotations

from lmsbridge.redaction import REDACTED, redact, redact_text


def test_nested_keys_are_redacted_case_and_style_insensitively() -> None:
    data = {
        "headers": {
            "Authorization": "Bearer abc.def",
            "X-Kombo-Signature": "v1,xyz",
            "Accept": "application/json",
        },
        "body": {"client_id": "cid", "clientSecret": "s3cr3t", "nested": [{"access_token": "tok", "n": 1}]},
        "api_key": "lmsb_key",
        "password": "pw",
        "refresh_token": None,
    }
    out = redact(data)
    assert out["headers"] == {
        "Authorization": REDACTED,
        "X-Kombo-Signature": REDACTED,
        "Accept": "application/json",
    }
    assert out["body"] == {
        "client_id": "cid",
        "clientSecret": REDACTED,
        "nested": [{"access_token": REDACTED, "n": 1}],
    }
    assert out["api_key"] == REDACTED and out["password"] == REDACTED
    assert out["refresh_token"] is None  # nothing to hide
    assert data["body"]["clientSecret"] == "s3cr3t"  # the input is not modified


def test_secrets_inside_strings() -> None:
    text = 'failed: Authorization: Bearer eyJhbGciOi.payload.sig; body {"client_secret": "s3cr3t", "x": "y"}'
    out = redact_text(text)
    assert "eyJhbGciOi" not in out and "s3cr3t" not in out and '"x": "y"' in out
    url = "https://h/oauth?client_id=c&client_secret=s3cr3t&page=2"
    assert redact_text(url) == f"https://h/oauth?client_id=c&client_secret={REDACTED}&page=2"
    assert redact([["authorization", "Basic dXNlcjpwdw=="], ["accept", "*/*"]]) == [
        ["authorization", REDACTED],
        ["accept", "*/*"],
    ]


def test_redaction_is_linear_on_hostile_text() -> None:
    import time

    from lmsbridge.redaction import redact_url

    # shapes that made the former patterns backtrack: long key runs without "=", quotes, brackets
    for text in ("a" * 1_000_000, '"a' * 500_000, "[" * 1_000_000, '"a":"\\"' * 150_000, "Bearer " * 150_000):
        started = time.perf_counter()
        redact_text(text)
        assert time.perf_counter() - started < 1.0, text[:20]
    url = "https://user:pw@h/x?key=lmsb_abc&page=2&api_key=zz&access_token=t#frag"
    assert redact_url(url) == (
        f"https://user:{REDACTED}@h/x?key={REDACTED}&page=2&api_key={REDACTED}&access_token={REDACTED}#frag"
    )
    assert "lmsb_secret" not in redact_text("GET /v1/lmsb_secretvalue/ failed")
