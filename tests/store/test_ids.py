"""Kombo-style ids: 24 Base58 characters, deterministic per (integration, model, remote id)."""

from __future__ import annotations

from collections import Counter

from lmsbridge.ids import BASE58_ALPHABET, is_base58_id, new_integration_id, random_id, record_id


def test_record_ids_are_deterministic_base58_and_distinct_per_input() -> None:
    first = record_id("360learning:abc", "users", "64b7f0c2a1e4c93d8f2a1b01")
    assert first == record_id("360learning:abc", "users", "64b7f0c2a1e4c93d8f2a1b01")
    assert is_base58_id(first)
    others = {
        record_id("360learning:abd", "users", "64b7f0c2a1e4c93d8f2a1b01"),
        record_id("360learning:abc", "courses", "64b7f0c2a1e4c93d8f2a1b01"),
        record_id("360learning:abc", "users", "64b7f0c2a1e4c93d8f2a1b02"),
        # the separator keeps ("a:b", "c") and ("a", "b:c") apart
        record_id("360learning:ab", "cusers", "64b7f0c2a1e4c93d8f2a1b01"),
    }
    assert first not in others and len(others) == 4


def test_ids_use_the_whole_alphabet_without_collisions() -> None:
    ids = [record_id("i", "m", str(n)) for n in range(20_000)] + [random_id() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert all(is_base58_id(i) for i in ids)
    counts = Counter("".join(ids))
    assert set(counts) == set(BASE58_ALPHABET)
    # every character is used at a rate within a factor of two of uniform
    expected = sum(counts.values()) / 58
    assert min(counts.values()) > expected / 2 and max(counts.values()) < expected * 2


def test_integration_ids_carry_the_tool() -> None:
    tool, _, rest = new_integration_id("360learning").partition(":")
    assert tool == "360learning" and is_base58_id(rest)
