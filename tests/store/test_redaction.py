"""Redaction is pure: secrets disappear from nested data and free text, everything else stays."""

from __future__ import annotations

from lmsbridge.store.redaction import REDACTED, redact, redact_text


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
