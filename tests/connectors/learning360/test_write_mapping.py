"""Pure mapping of writes: languages, course payloads, statistics items, bulk results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lmsbridge.connectors.learning360 import write_mapping as wm

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("en-GB", "en_GB"),
        ("pt-BR", "pt_BR"),
        ("zh-TW", "zh_tw"),
        ("de-CH", "de"),
        ("he", "he_IL"),
        ("kar", "kar_MM"),
        ("xx", None),
    ],
)
def test_language_mapping(tag: str, code: str | None) -> None:
    assert wm.language_to_360(tag) == code


def test_languages_default_and_translations() -> None:
    assert wm.languages_to_360(["xx", "fr-CA", "fr", "en-US"]) == ("fr_CA", ["fr", "en"], ["xx"])
    assert wm.languages_to_360(None) == ("en", [], [])
    assert wm.languages_to_360(["xx"]) == ("en", [], ["xx"])


def test_external_course_item_sends_every_field_and_omits_empty_ones() -> None:
    course = wm.CourseInput(title="T", course_url="https://x.example/c", description="", duration=250_000)
    item = wm.external_course_item("o-1", course, "Acme")
    assert item == {
        "externalId": "o-1",
        "name": "T",
        "launchUrl": "https://x.example/c",
        "defaultLang": "en",
        "sources": [{"name": "Acme"}],
        "subjects": [],
        "contentType": "course",
        "duration": wm.MAX_DURATION_MINUTES,
    }


def test_complete_item_updates_the_open_attempt() -> None:
    attempt = {
        "_id": "a1",
        "firstActivityAt": "2025-03-01T08:00:00.000Z",
        "lastActivityAt": "2025-03-01T08:00:00.000Z",
        "timeSpent": 5000,
    }
    done = T0 + timedelta(hours=2)
    item = wm.complete_stat_item("u", "c", attempts=[attempt], enrolled_at=T0, completed_at=done, score=80)
    # strictly before the attempt's last activity, so 360Learning updates it instead of adding one
    assert item["firstActivityAt"] == "2025-03-01T07:59:59.999Z"
    assert item["lastActivityAt"] == "2025-03-01T10:00:00.000Z"
    assert item["progress"] == 100 and item["score"] == 80 and item["timeSpent"] == 5000
    # a completion date before the attempt: first activity never after the completion
    early = wm.complete_stat_item(
        "u", "c", attempts=[attempt], enrolled_at=T0, completed_at=T0 - timedelta(days=3), score=None
    )
    assert early["firstActivityAt"] == early["lastActivityAt"] == "2025-02-26T08:00:00.000Z"
    assert "score" not in early
    # no attempt known yet (enrollment still importing): the enrollment time stands in
    fresh = wm.complete_stat_item("u", "c", attempts=[], enrolled_at=T0, completed_at=done, score=None)
    assert fresh["firstActivityAt"] == "2025-03-01T07:59:59.999Z"


def test_results_are_matched_by_input_not_position() -> None:
    items = [{"externalId": "a"}, {"externalId": "b"}, {"externalId": "c"}]
    results = [
        {"input": {"externalId": "b"}, "status": "error", "errorMessage": "bad"},
        {"input": {"externalId": "a"}, "status": "success", "resourceId": "66c2d4eaf1c3e58b0d9f6a21"},
    ]
    matched = wm.match_results(items, results)
    assert matched[wm.input_key(items[0])] == wm.ItemOutcome(True, resource_id="66c2d4eaf1c3e58b0d9f6a21")
    assert matched[wm.input_key(items[1])] == wm.ItemOutcome(False, error="bad")
    assert not matched[wm.input_key(items[2])].ok
    assert wm.operation_id_from_location("https://h/api/v2/bulk/operations/66d0e1f2a3b4c5d6e7f8aaaa") == (
        "66d0e1f2a3b4c5d6e7f8aaaa"
    )


def test_author_and_root_group_discovery() -> None:
    roles = [
        {"userId": "b", "role": "editor"},
        {"userId": "z", "role": "admin"},
        {"userId": "y", "role": "admin"},
    ]
    assert wm.pick_author(roles) == "y"
    assert wm.pick_author([{"userId": "l", "role": "learner"}]) is None
    assert wm.root_group_id([{"_id": "s", "parentId": "r"}, {"_id": "r"}]) == "r"
