"""The checkpoint state of one sync run, kept as JSON in ``sync_runs.streams`` and saved after every page.

Plain data so a resumed run (another process, after kill -9) continues exactly where the last committed
page left it: every chain's checkpoint (the connector's JSON), the streams planned, per-model counts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lmsbridge.connectors.base import Chain, Json

COUNT_KEYS = ("seen", "created", "changed", "deleted")


@dataclass
class ChainState:
    chain: Chain
    # where the chain's next page starts (None: at its beginning, or finished when ``done``)
    checkpoint: Json | None = None
    done: bool = False
    pages: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain.to_dict(),
            "checkpoint": self.checkpoint,
            "done": self.done,
            "pages": self.pages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainState:
        return cls(
            Chain.from_dict(data["chain"]), data.get("checkpoint"), bool(data["done"]), int(data["pages"])
        )


@dataclass
class RunState:
    chains: dict[str, ChainState] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # streams that could not be read completely, with the reason (a missing scope names it)
    failed: dict[str, str] = field(default_factory=dict)
    # streams whose chains are planned (a stream is planned when the streams it comes after finished)
    planned: list[str] = field(default_factory=list)
    # DELTA runs: per stream where it starts (ISO-8601; absent: never synced)
    since: dict[str, str] = field(default_factory=dict)
    # per stream, the latest replication-key value (remote clock) this run saw: the next delta starts
    # there, so a clock difference between the LMS and us cannot make it miss changes
    cursors: dict[str, str] = field(default_factory=dict)
    # what the connector's streams remember for later pages (``Stream.remember``), kept so a resumed
    # run need not fetch it again
    memory: dict[str, Any] = field(default_factory=dict)
    deletions_done: list[str] = field(default_factory=list)

    def add_chain(self, chain: Chain) -> ChainState:
        state = self.chains.get(chain.key)
        if state is None:
            state = self.chains[chain.key] = ChainState(chain)
        return state

    def chains_of(self, stream: str) -> list[ChainState]:
        return [c for c in self.chains.values() if c.chain.stream == stream]

    def stream_complete(self, stream: str) -> bool:
        """Every chain of the stream finished and none failed: a complete scan."""
        chains = self.chains_of(stream)
        return bool(chains) and all(c.done for c in chains) and stream not in self.failed

    def count(self, model: str, **amounts: int) -> None:
        row = self.counts.setdefault(model, dict.fromkeys(COUNT_KEYS, 0))
        for key, amount in amounts.items():
            row[key] = row.get(key, 0) + amount

    def advance_cursor(self, stream: str, values: list[str]) -> None:
        """Keep the greatest ISO-8601 value (a fixed format with one offset sorts as text)."""
        best = max((v for v in values if v), default=None)
        if best is not None and best > self.cursors.get(stream, ""):
            self.cursors[stream] = best

    def changed_models(self) -> list[str]:
        return sorted(
            m
            for m, c in self.counts.items()
            if c.get("created", 0) + c.get("changed", 0) + c.get("deleted", 0)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "chains": {key: c.to_dict() for key, c in self.chains.items()},
            "counts": copy.deepcopy(self.counts),
            "failed": dict(self.failed),
            "planned": list(self.planned),
            "since": dict(self.since),
            "cursors": dict(self.cursors),
            "memory": copy.deepcopy(self.memory),
            "deletions_done": list(self.deletions_done),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunState:
        if not data:
            return cls()
        return cls(
            chains={k: ChainState.from_dict(v) for k, v in data.get("chains", {}).items()},
            counts={k: dict(v) for k, v in data.get("counts", {}).items()},
            failed=dict(data.get("failed", {})),
            planned=list(data.get("planned", [])),
            since=dict(data.get("since", {})),
            cursors=dict(data.get("cursors", {})),
            memory=dict(data.get("memory", {})),
            deletions_done=list(data.get("deletions_done", [])),
        )
