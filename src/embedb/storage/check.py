"""``embedb check``: verify every checksum of a data directory, and repair by dropping what is damaged.

``check_directory`` only reads (it needs no writer lock and changes nothing) and
returns a ``CheckReport`` that lists each problem with the file, the byte
offset, and what a repair would drop. ``repair_directory`` then drops exactly
that, under the writer lock: a damaged WAL record and everything logged after
it in that collection, a damaged segment with its rows, a damaged deletion file
(its segment then shows rows as live that had been deleted — said in the report),
a damaged partial column (what a backfill had embedded into it so far; the job
embeds those rows again). A partial column's bytes past what the catalog
recorded are a chunk a crash cut short: listed with the torn tails, not damage.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from embedb.errors import CorruptionError, StorageError
from embedb.storage.catalog import Catalog
from embedb.storage.lock import WriterLock
from embedb.storage.partial_columns import forget_partials, load_partials, verify_partial
from embedb.storage.segment_files import verify_file, verify_segment
from embedb.storage.wal import list_wal_files, scan_file

CATALOG_FILE = "catalog.sqlite"


@dataclass(frozen=True)
class Problem:
    """One damaged thing and what repairing it costs."""

    collection: str
    kind: str  # "wal", "segment", "deletions", "partial"
    file: str
    offset: int
    message: str
    would_drop: str
    collection_id: int = 0
    segment_id: int | None = None
    column_key: str | None = None


@dataclass
class CheckReport:
    path: str
    collections: int = 0
    segments: int = 0
    wal_files: int = 0
    wal_records: int = 0
    torn_tails: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _catalog(path: Path, *, read_only: bool) -> Catalog:
    if not (path / CATALOG_FILE).exists():
        raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
    return Catalog(path / CATALOG_FILE, read_only=read_only)


def check_directory(path: Path) -> CheckReport:
    """Verify every WAL record and segment file checksum; change nothing."""
    report = CheckReport(str(path))
    catalog = _catalog(path, read_only=True)
    try:
        for row in catalog.query("SELECT id, name, checkpoint_lsn FROM collections ORDER BY id"):
            report.collections += 1
            root = path / "collections" / str(row["id"])
            _check_segments(report, catalog, root, row["name"], int(row["id"]))
            _check_partials(report, catalog, root, row["name"], int(row["id"]))
            _check_wal(report, root / "wal", row["name"], int(row["id"]), int(row["checkpoint_lsn"]))
    finally:
        catalog.close()
    return report


def _check_segments(report: CheckReport, catalog: Catalog, root: Path, name: str, collection_id: int) -> None:
    for seg in catalog.query(
        "SELECT segment_id, row_count, manifest, deletions FROM segments WHERE collection_id = ?", (collection_id,)
    ):
        report.segments += 1
        segment_id = int(seg["segment_id"])
        folder = root / "segments" / f"{segment_id:010d}"
        for error in verify_segment(folder, json.loads(seg["manifest"])):
            report.problems.append(
                Problem(
                    name,
                    "segment",
                    str(error.details.get("file")),
                    int(error.details.get("offset", 0)),
                    error.message,
                    f"segment {segment_id} with its {seg['row_count']} rows",
                    collection_id,
                    segment_id,
                )
            )
        entry = json.loads(seg["deletions"]) if seg["deletions"] else None
        if entry:
            try:
                verify_file(folder / entry["file"], entry)
            except CorruptionError as error:
                report.problems.append(
                    Problem(
                        name,
                        "deletions",
                        str(error.details.get("file")),
                        int(error.details.get("offset", 0)),
                        error.message,
                        f"the deletion marks of segment {segment_id}: its deleted rows would show again",
                        collection_id,
                        segment_id,
                    )
                )


def _check_partials(report: CheckReport, catalog: Catalog, root: Path, name: str, collection_id: int) -> None:
    """Verify the vector columns under construction: their recorded chunks, and any tail a crash left."""
    published = {
        int(row["segment_id"])
        for row in catalog.query("SELECT segment_id FROM segments WHERE collection_id = ?", (collection_id,))
    }
    for (segment_id, key), (partial, chunks) in load_partials(catalog, collection_id).items():
        if segment_id not in published:
            continue  # its segment is gone: the next open forgets it
        folder = root / "segments" / f"{segment_id:010d}"
        try:
            tail = verify_partial(folder, partial, chunks)
        except CorruptionError as error:
            report.problems.append(
                Problem(
                    name,
                    "partial",
                    str(error.details.get("file")),
                    int(error.details.get("offset", 0)),
                    error.message,
                    f"the {partial.rows_done} of {partial.rows} rows a backfill embedded so far into column {key!r} "
                    f"of segment {segment_id} (the job embeds them again)",
                    collection_id,
                    segment_id,
                    key,
                )
            )
            continue
        if tail:
            report.torn_tails.append(
                f"{folder / partial.file} at offset {partial.bytes_done} (a backfill chunk never committed, cut on the next open)"
            )


def _check_wal(report: CheckReport, folder: Path, name: str, collection_id: int, checkpoint_lsn: int) -> None:
    files = list_wal_files(folder)
    for index, wal_file in enumerate(files):
        report.wal_files += 1
        if index + 1 < len(files) and int(files[index + 1].stem) <= checkpoint_lsn + 1:
            # Every record here is in sealed segments already (a crash came
            # before the checkpoint deleted the file). Opening never reads it,
            # so damage here loses nothing, and "repairing" it by cutting the
            # log would drop the later files, which do matter.
            continue
        scan = scan_file(wal_file, is_last=index == len(files) - 1)
        report.wal_records += len(scan.records)
        if scan.torn:
            report.torn_tails.append(f"{wal_file} at offset {scan.valid_end} (an interrupted write, cut on the next open)")
        if scan.corruption is not None:
            later = sum(1 for f in files[index + 1 :])
            report.problems.append(
                Problem(
                    name,
                    "wal",
                    str(wal_file),
                    int(scan.corruption.details.get("offset", 0)),
                    scan.corruption.message,
                    f"every WAL record from offset {scan.valid_end} of this file on, and {later} later WAL file(s): "
                    f"writes logged after LSN {scan.records[-1].lsn if scan.records else checkpoint_lsn}",
                    collection_id,
                )
            )
            return


def repair_directory(path: Path, report: CheckReport) -> list[str]:
    """Drop what ``report`` says is damaged; return what was done. Needs the writer lock."""
    lock = WriterLock(path)
    actions: list[str] = []
    try:
        catalog = _catalog(path, read_only=False)
        try:
            for problem in report.problems:
                root = path / "collections" / str(problem.collection_id)
                if problem.kind == "wal":
                    _cut_wal(Path(problem.file), problem.offset)
                    actions.append(f"{problem.collection}: cut the WAL at {problem.file} offset {problem.offset}")
                elif problem.kind == "segment" and problem.segment_id is not None:
                    with catalog.transaction() as cursor:
                        cursor.execute(
                            "DELETE FROM segments WHERE collection_id = ? AND segment_id = ?",
                            (problem.collection_id, problem.segment_id),
                        )
                        forget_partials(cursor, problem.collection_id, segment_id=problem.segment_id)
                        catalog.record_event(cursor, "repair.drop_segment", problem.collection, segment=problem.segment_id)
                    shutil.rmtree(root / "segments" / f"{problem.segment_id:010d}", ignore_errors=True)
                    actions.append(f"{problem.collection}: dropped segment {problem.segment_id}")
                elif problem.kind == "deletions" and problem.segment_id is not None:
                    with catalog.transaction() as cursor:
                        cursor.execute(
                            "UPDATE segments SET deletions = NULL WHERE collection_id = ? AND segment_id = ?",
                            (problem.collection_id, problem.segment_id),
                        )
                        catalog.record_event(cursor, "repair.drop_deletions", problem.collection, segment=problem.segment_id)
                    actions.append(f"{problem.collection}: dropped the deletion marks of segment {problem.segment_id}")
                elif problem.kind == "partial" and problem.segment_id is not None and problem.column_key is not None:
                    with catalog.transaction() as cursor:
                        forget_partials(
                            cursor, problem.collection_id, segment_id=problem.segment_id, key=problem.column_key
                        )
                        catalog.record_event(
                            cursor,
                            "repair.drop_partial_column",
                            problem.collection,
                            segment=problem.segment_id,
                            column=problem.column_key,
                        )
                    Path(problem.file).unlink(missing_ok=True)
                    actions.append(
                        f"{problem.collection}: dropped the partial column {problem.column_key!r} of segment "
                        f"{problem.segment_id}; its backfill embeds those rows again"
                    )
        finally:
            catalog.close()
    finally:
        lock.release()
    return actions


def _cut_wal(wal_file: Path, offset: int) -> None:
    files = list_wal_files(wal_file.parent)
    for later in files[files.index(wal_file) + 1 :]:
        later.unlink()
    with open(wal_file, "r+b") as handle:
        handle.truncate(offset)
