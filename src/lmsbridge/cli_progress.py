"""Rich progress bars for a sync running in the foreground: one bar per stream, advancing per chain
(stats has one chain per course partition), with pages and records fetched so far."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichSyncProgress:
    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("chains · {task.fields[pages]} pages · {task.fields[records]} records"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichSyncProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, stream: str) -> TaskID:
        if stream not in self._tasks:
            self._tasks[stream] = self.progress.add_task(stream, total=0, pages=0, records=0)
        return self._tasks[stream]

    def stream_planned(self, stream: str, chains: int, done: int) -> None:
        self.progress.update(self._task(stream), total=chains, completed=done)

    def chain_started(self, stream: str, key: str) -> None:
        self._task(stream)

    def page_done(self, stream: str, key: str, items: int) -> None:
        task = self._task(stream)
        fields = self.progress.tasks[self._index(task)].fields
        self.progress.update(task, pages=fields["pages"] + 1, records=fields["records"] + items)

    def chain_done(self, stream: str, key: str) -> None:
        self.progress.advance(self._task(stream))

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self.progress.tasks) if t.id == task)
