"""Damaged files: a torn WAL tail is cut; anything else is a ``CorruptionError`` that ``embedb check`` can repair.

The directory every test starts from holds two sealed segments (the first with
a deletion file) and four batches in the WAL after the checkpoint, each with
its own keys, so what a repair drops can be told exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embedb
from embedb import CollectionSchema, CorruptionError, DataType, FieldSchema, MetricType, Settings
from embedb.cli import main
from embedb.cli.console import console
from embedb.storage.wal import FILE_HEADER, RECORD_HEADER, list_wal_files, scan_file

DIM = 8
SEGMENT_KEYS = {"first": range(0, 100), "second": range(100, 200)}
DELETED_FROM_FIRST = range(0, 5)  # deleted after the first segment was sealed: its deletion file
WAL_BATCHES = [range(200, 210), range(210, 220), range(220, 230), range(230, 240)]
QUIET = Settings(background_compaction=False, background_interval_s=3600.0)


def vector_of(key: int) -> list[float]:
    return np.random.default_rng(key).standard_normal(DIM).astype(np.float32).tolist()


def rows(keys: range) -> list[dict[str, Any]]:
    return [{"id": k, "vector": vector_of(k), "n": k, "tag": f"t{k}"} for k in keys]


def expected(*key_ranges: range, minus: range = range(0)) -> set[int]:
    return {k for keys in key_ranges for k in keys} - set(minus)


def live_rows(path: Path) -> dict[int, dict[str, Any]]:
    with embedb.connect(path, settings=QUIET) as db:
        found = {row["id"]: row for row in db.query("c", "", output_fields=["n", "tag", "vector"])}
    for key, row in found.items():
        assert row["n"] == key and row["tag"] == f"t{key}"
        assert row["vector"] == vector_of(key), f"row {key} holds another vector"
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    with embedb.connect(path, settings=QUIET) as db:
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM, metric_type=MetricType.L2),
                FieldSchema("n", DataType.INT64),
                FieldSchema("tag", DataType.VARCHAR, max_length=16),
            )
        )
        db.create_collection("c", schema=schema)
        db.insert("c", rows(SEGMENT_KEYS["first"]))
        db.flush("c")
        db.insert("c", rows(SEGMENT_KEYS["second"]))
        db.delete("c", ids=list(DELETED_FROM_FIRST))
        db.flush("c")
        for keys in WAL_BATCHES:
            db.insert("c", rows(keys))
    return path


def segment_folder(path: Path, holding_key: int) -> Path:
    for folder in sorted((path / "collections" / "1" / "segments").iterdir()):
        if holding_key in np.load(folder / "pk.npy"):
            return folder
    raise AssertionError(f"no segment holds key {holding_key}")


def wal_records(path: Path) -> tuple[Path, list[int]]:
    """The WAL file after the checkpoint and the offset of each of its records."""
    (wal_file,) = list_wal_files(path / "collections" / "1" / "wal")
    return wal_file, [record.offset for record in scan_file(wal_file, is_last=True).records]


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def embedb_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the ``embedb`` command line in this process (its real entry point, ``main``)."""
    monkeypatch.setattr(console, "width", 400)  # rich wraps table cells at the terminal width

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exited:
            code = int(exited.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def assert_every_read_refuses(path: Path, file: Path, offset: int) -> None:
    reads: list[Callable[[Any], object]] = [
        lambda db: db.query("c", "", output_fields=["count(*)"]),
        lambda db: db.search("c", [vector_of(0)], limit=3),
        lambda db: db.get("c", [0, 150, 205]),
    ]
    with embedb.connect(path, settings=QUIET) as db:
        for read in reads:
            with pytest.raises(CorruptionError) as caught:
                read(db)
            assert caught.value.details["file"] == str(file)
            assert caught.value.details["offset"] == offset
            assert str(file) in str(caught.value) and f"offset {offset}" in str(caught.value)


# ----------------------------------------------------------------- torn tail


@pytest.mark.parametrize("cut", ["record header", "payload", "payload checksum", "zeros appended"])
def test_a_torn_wal_tail_is_cut_and_the_data_before_it_kept(
    data_dir: Path, cut: str, embedb_cli: Callable[..., CliResult]
) -> None:
    wal_file, offsets = wal_records(data_dir)
    last = offsets[-1]
    size = wal_file.stat().st_size
    if cut == "zeros appended":
        with open(wal_file, "ab") as handle:
            handle.write(b"\0" * 4096)  # a file system that grew the file before the data landed
        survivors = WAL_BATCHES
    else:
        keep = {"record header": last + 7, "payload": last + RECORD_HEADER.size + 40, "payload checksum": size - 2}[cut]
        os.truncate(wal_file, keep)
        survivors = WAL_BATCHES[:-1]
    checked = embedb_cli("check", str(data_dir))
    assert checked.returncode == 0, checked.stdout
    assert "torn tail" in checked.stdout and str(wal_file) in checked.stdout
    assert set(live_rows(data_dir)) == expected(*SEGMENT_KEYS.values(), *survivors, minus=DELETED_FROM_FIRST)
    assert wal_file.stat().st_size == (size if cut == "zeros appended" else last), "the tail was cut on open"
    with embedb.connect(data_dir, settings=QUIET) as db:
        db.insert("c", rows(range(900, 905)))
    assert set(live_rows(data_dir)) == expected(
        *SEGMENT_KEYS.values(), *survivors, range(900, 905), minus=DELETED_FROM_FIRST
    )


def test_a_wal_file_cut_inside_its_header_is_dropped(data_dir: Path) -> None:
    wal_file, _ = wal_records(data_dir)
    os.truncate(wal_file, FILE_HEADER.size - 3)  # a crash while a rotation wrote the new file
    assert set(live_rows(data_dir)) == expected(*SEGMENT_KEYS.values(), minus=DELETED_FROM_FIRST)


# ------------------------------------------------------------- WAL corruption


@pytest.mark.parametrize("where", ["record header", "payload"])
def test_a_flipped_byte_inside_the_wal_is_corruption_that_check_repairs(
    data_dir: Path, where: str, embedb_cli: Callable[..., CliResult]
) -> None:
    wal_file, offsets = wal_records(data_dir)
    damaged = offsets[1]  # the second of four batches after the checkpoint
    flip_byte(wal_file, damaged + (9 if where == "record header" else RECORD_HEADER.size + 30))
    assert_every_read_refuses(data_dir, wal_file, damaged)

    checked = embedb_cli("check", str(data_dir))
    assert checked.returncode == 1
    assert str(wal_file) in checked.stdout and str(damaged) in checked.stdout
    script = subprocess.run(
        [str(Path(sys.executable).with_name("embedb")), "check", str(data_dir)], capture_output=True
    )
    assert script.returncode == 1, "the installed script reports damage in its exit status"
    assert f"every WAL record from offset {damaged}" in checked.stdout, "it says what a repair drops"
    repaired = embedb_cli("check", str(data_dir), "--repair", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"cut the WAL at {wal_file} offset {damaged}" in repaired.stdout

    # Exactly the damaged batch and the ones after it are gone; the rest is intact.
    assert set(live_rows(data_dir)) == expected(*SEGMENT_KEYS.values(), WAL_BATCHES[0], minus=DELETED_FROM_FIRST)
    assert embedb_cli("check", str(data_dir)).returncode == 0


def test_damage_in_a_wal_file_the_checkpoint_made_obsolete_is_harmless(
    data_dir: Path, tmp_path: Path, embedb_cli: Callable[..., CliResult]
) -> None:
    # A crash between a checkpoint's commit and its deletion of the old log
    # leaves a file whose records are all in segments; open never reads it.
    wal_file, offsets = wal_records(data_dir)
    saved = tmp_path / wal_file.name
    shutil.copy(wal_file, saved)
    with embedb.connect(data_dir, settings=QUIET) as db:
        db.flush("c")
        db.insert("c", rows(range(900, 905)))
    shutil.copy(saved, wal_file)
    flip_byte(wal_file, offsets[1] + RECORD_HEADER.size + 30)
    everything = expected(*SEGMENT_KEYS.values(), *WAL_BATCHES, range(900, 905), minus=DELETED_FROM_FIRST)
    assert set(live_rows(data_dir)) == everything
    checked = embedb_cli("check", str(data_dir))
    assert checked.returncode == 0, checked.stdout
    assert embedb_cli("check", str(data_dir), "--repair", "--yes").returncode == 0
    assert set(live_rows(data_dir)) == everything, "nothing was cut"


# --------------------------------------------------------- segment corruption


@pytest.mark.parametrize(
    "file_name", ["pk.npy", "seq.npy", "partition.npy", "scalars.arrow", "vector.0.npy", "norm.0.npy", "deleted.1.npy"]
)
def test_a_flipped_byte_in_a_sealed_segment_is_corruption_that_check_repairs(
    data_dir: Path, file_name: str, embedb_cli: Callable[..., CliResult]
) -> None:
    target = segment_folder(data_dir, holding_key=50) / file_name
    flip_byte(target, target.stat().st_size - 9)
    assert_every_read_refuses(data_dir, target, 0)

    checked = embedb_cli("check", str(data_dir))
    assert checked.returncode == 1
    assert str(target) in checked.stdout
    repaired = embedb_cli("check", str(data_dir), "--repair", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    if file_name.startswith("deleted."):
        # The marks are gone, so the rows they deleted are back: the report said so.
        assert "its deleted rows would show again" in checked.stdout
        survivors = expected(*SEGMENT_KEYS.values(), *WAL_BATCHES)
    else:
        assert "with its 100 rows" in checked.stdout, "it says what a repair drops"
        survivors = expected(SEGMENT_KEYS["second"], *WAL_BATCHES)
    assert set(live_rows(data_dir)) == survivors
    assert embedb_cli("check", str(data_dir)).returncode == 0


def test_damage_deep_in_a_large_segment_file_names_its_block(tmp_path: Path) -> None:
    path = tmp_path / "data"
    vectors = np.random.default_rng(0).standard_normal((40_000, DIM)).astype(np.float32)
    with embedb.connect(path, settings=QUIET) as db:
        db.create_collection("c", dimension=DIM, metric_type=MetricType.L2)
        db.insert("c", {"id": np.arange(40_000), "vector": vectors})
        db.flush("c")
    target = segment_folder(path, holding_key=0) / "vector.0.npy"
    flip_byte(target, 1_200_000)
    with embedb.connect(path, settings=QUIET) as db, pytest.raises(CorruptionError) as caught:
        db.search("c", vectors[:1], limit=1)
    assert caught.value.details == {"file": str(target), "offset": 1 << 20}
    assert "block at offset 1048576" in str(caught.value)
