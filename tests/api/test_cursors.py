"""The cursor codec alone: round trip, binding, and keys that differ per installation."""

from __future__ import annotations

import pytest

from lmsbridge.api.cursors import CursorCodec, InvalidCursorError, derive_cursor_key

FILTERS = {"ids": ["a", "b"], "include_deleted": False}


def test_round_trip_and_binding() -> None:
    codec = CursorCodec(derive_cursor_key(b"installation-one"))
    token = codec.encode("lms/users", "360learning:x", FILTERS, "AbC123")
    assert "AbC123" not in token  # opaque to the eye: not the id in clear
    assert codec.decode(token, "lms/users", "360learning:x", dict(FILTERS)) == "AbC123"
    for endpoint, integration, filters in [
        ("lms/courses", "360learning:x", FILTERS),
        ("lms/users", "360learning:y", FILTERS),
        ("lms/users", "360learning:x", {**FILTERS, "ids": ["a"]}),
    ]:
        with pytest.raises(InvalidCursorError):
            codec.decode(token, endpoint, integration, filters)


def test_another_installation_cannot_use_or_forge_cursors() -> None:
    ours = CursorCodec(derive_cursor_key(b"installation-one"))
    theirs = CursorCodec(derive_cursor_key(b"installation-two"))
    token = theirs.encode("lms/users", "360learning:x", FILTERS, "AbC123")
    with pytest.raises(InvalidCursorError):
        ours.decode(token, "lms/users", "360learning:x", FILTERS)


@pytest.mark.parametrize("garbage", ["", "!!!", "a", "AAAA", "x" * 600, "eyJhIjoiMSJ9", "é"])
def test_garbage_is_invalid_not_a_crash(garbage: str) -> None:
    codec = CursorCodec(derive_cursor_key(b"k"))
    with pytest.raises(InvalidCursorError):
        codec.decode(garbage, "lms/users", "i", {})
