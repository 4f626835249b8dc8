"""Link-header pagination: every record exactly once under each filter, no Link on the last page, tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_openapi import check, follow

from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.sandbox.learning360.timefmt import parse_iso


@pytest.fixture
def small_pages(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.control.configure(
        page_sizes={"users": 7, "courses": 4, "stats": 50, "integrations": 1, "groups": 2}
    )
    return sandbox


def _ms(value: str | None) -> int | None:
    return None if value is None else parse_iso(value)


def _stats_cases(sb: RunningSandbox) -> list[tuple[dict[str, Any], Any]]:
    courses, users = sb.tenant.courses.ids, sb.tenant.users.ids
    cut = "2024-06-01T12:00:00.999Z"  # milliseconds are dropped by the server
    cut_ms = parse_iso("2024-06-01T12:00:00.000Z")
    assert cut_ms is not None
    return [
        ({}, lambda r: True),
        ({"courseId[eq]": courses[0]}, lambda r: r["courseId"] == courses[0]),
        ({"courseId[ne]": courses[0]}, lambda r: r["courseId"] != courses[0]),
        ({"courseId[in][]": courses[:3]}, lambda r: r["courseId"] in courses[:3]),
        ({"courseId[nin]": courses[:3]}, lambda r: r["courseId"] not in courses[:3]),
        (
            {"userId[in][0]": users[5], "userId[in][1]": users[9]},
            lambda r: r["userId"] in (users[5], users[9]),
        ),
        (
            {"userId[eq]": users[5], "courseId[in]": courses[:10]},
            lambda r: r["userId"] == users[5] and r["courseId"] in courses[:10],
        ),
        ({"completedAt[gte]": cut}, lambda r: "completedAt" in r and _ms(r["completedAt"]) >= cut_ms),
        ({"completedAt[lt]": cut}, lambda r: "completedAt" in r and _ms(r["completedAt"]) < cut_ms),
        (
            {"completedAt[gte]": cut, "courseId[in]": courses[:2]},
            lambda r: "completedAt" in r and _ms(r["completedAt"]) >= cut_ms and r["courseId"] in courses[:2],
        ),
        ({"courseId[eq]": "0123456789abcdef01234567"}, lambda r: False),
    ]


def _assert_exact(
    sb: RunningSandbox, api: httpx.Client, path: str, params: dict[str, Any], expected: list[Any], size: int
) -> None:
    rows, responses = follow(api, path, params)
    ids = [r["_id"] for r in rows]
    assert ids == [r["_id"] for r in expected], params
    assert len(set(ids)) == len(ids)
    assert "link" not in responses[-1].headers
    assert all("link" in r.headers for r in responses[:-1])
    assert all(len(r.json()) == size for r in responses[:-1])
    for link_response in responses[:-1]:
        link = link_response.headers["link"]
        assert link.startswith(f"<{sb.base_url}{path}?next=") and link.endswith('>; rel="next"')


def test_stats_every_row_once_under_each_filter(small_pages: RunningSandbox, api: httpx.Client) -> None:
    everything, _ = follow(api, "/api/v2/courses/stats")
    assert len(everything) == 1300
    for params, keep in _stats_cases(small_pages):
        expected = [r for r in everything if keep(r)]
        _assert_exact(small_pages, api, "/api/v2/courses/stats", params, expected, 50)


def test_users_courses_integrations_under_filters(small_pages: RunningSandbox, api: httpx.Client) -> None:
    t = small_pages.tenant
    users, courses = t.users.items, t.courses.items
    mails = [u["mail"] for u in users[:4] if "mail" in u]
    cases = [
        ("/api/v2/users", {}, users, 7),
        ("/api/v2/users", {"status[eq]": "active"}, [u for u in users if u["status"] == "active"], 7),
        ("/api/v2/users", {"status[ne]": "active"}, [u for u in users if u["status"] != "active"], 7),
        ("/api/v2/users", {"mail[in]": mails}, [u for u in users if u.get("mail") in mails], 7),
        ("/api/v2/users", {"mail[nin]": mails}, [u for u in users if u.get("mail") not in mails], 7),
        (
            "/api/v2/courses",
            {"status[eq]": "published"},
            [c for c in courses if c["status"] == "published"],
            4,
        ),
        ("/api/v2/courses", {"type[eq]": "external"}, [c for c in courses if c["type"] == "external"], 4),
        (
            "/api/v2/courses",
            {"modifiedAt[gte]": "2024-01-01T00:00:00.000Z"},
            [c for c in courses if c["modifiedAt"] >= "2024-01-01T00:00:00.000Z"],
            4,
        ),
        (
            "/api/v2/courses",
            {"createdAt[lt]": "2024-01-01T00:00:00.000Z", "status[eq]": "published"},
            [
                c
                for c in courses
                if c["createdAt"] < "2024-01-01T00:00:00.000Z" and c["status"] == "published"
            ],
            4,
        ),
        (
            "/api/v2/courses",
            {"collaborativeLearning[eq]": "true"},
            [c for c in courses if c.get("collaborativeLearning")],
            4,
        ),
        (
            "/api/v2/courses",
            {"coAuthorIds[in]": [t.users.ids[1]]},
            [c for c in courses if t.users.ids[1] in c["coAuthorIds"]],
            4,
        ),
        ("/api/v2/integrations", {}, [i for i in t.integrations.items if i], 1),
        (
            "/api/v2/integrations",
            {"externalPlatform[eq]": "SkillForge"},
            [i for i in t.integrations.items if i and i["externalPlatform"] == "SkillForge"],
            1,
        ),
        ("/api/v2/groups", {}, t.groups.items, 2),
    ]
    for path, params, expected, size in cases:
        assert expected or params.get("collaborativeLearning[eq]"), (path, params)
        _assert_exact(small_pages, api, path, params, expected, size)


def test_no_link_when_rows_exactly_fill_the_last_page(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.control.configure(page_sizes={"stats": 650})  # 1,300 rows = exactly two pages
    _, responses = follow(api, "/api/v2/courses/stats")
    assert [len(r.json()) for r in responses] == [650, 650]
    assert "link" not in responses[-1].headers


def test_next_token_keeps_filters_and_rejects_forgery(small_pages: RunningSandbox, api: httpx.Client) -> None:
    course = small_pages.tenant.courses.ids[0]
    first = api.get("/api/v2/courses/stats", params={"courseId[ne]": course})
    link = first.headers["link"]
    next_url = link[1 : link.index(">")]
    assert "courseId" not in next_url  # the filters travel inside the opaque token
    assert all(r["courseId"] != course for r in api.get(next_url).json())
    token = next_url.split("next=", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", ""):
        response = api.get("/api/v2/courses/stats", params={"next": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalidRequest"
    # a token issued for another route is refused too
    assert api.get("/api/v2/users", params={"next": token}).status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"progress[eq]": "100"},  # unknown field
        {"courseId[lt]": "0123456789abcdef01234567"},  # operator not declared for the field
        {"courseId[eq]": "nope"},  # not an ObjectId
        {"completedAt[gte]": "yesterday"},  # not a date
        {"completedAt[gte]": ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"]},  # repeated scalar
        {"limit": "10"},  # no such parameter exists
    ],
)
def test_bad_filters_are_400(api: httpx.Client, params: dict[str, Any]) -> None:
    response = api.get("/api/v2/courses/stats", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"


def test_bad_enum_value_on_users(api: httpx.Client) -> None:
    assert api.get("/api/v2/users", params={"status[eq]": "gone"}).status_code == 400
    assert api.get("/api/v2/courses", params={"collaborativeLearning[eq]": "yes"}).status_code == 400


def test_list_pages_validate(small_pages: RunningSandbox, api: httpx.Client) -> None:
    _, responses = follow(api, "/api/v2/users", {"status[eq]": "deleted"})
    for response in responses:
        check("core", "GET", "/api/v2/users", response)
