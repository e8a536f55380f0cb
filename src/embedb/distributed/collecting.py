"""What a shard's primary deletes from the object store after each snapshot, so the storage stays bounded.

A shard restores from its newest snapshot and replays the logs after it, so
after a snapshot the primary keeps the newest ``KEEP_SNAPSHOTS`` of its
snapshots (the older one a margin: a replica may be restoring it right now)
and deletes:

- its older snapshots' manifests, then every content none of the kept
  snapshots names (a compacted segment, an old catalog database, a rebuilt index);
- its shard log's records before the oldest kept snapshot's position (never the
  newest record: the next append finds its position from it);
- the temporary files of puts cut short by a kill (directory storage), an hour on;
- the first shard's primary also collects the catalog log, up to the oldest
  position any shard's oldest kept snapshot holds (a shard with fewer snapshots
  holds the whole catalog back).

A reader behind what was collected (a replica that was restoring an older
snapshot meanwhile) meets a gap in the log, never a silent skip: the log read
raises ``CorruptionError`` and the replica restores the newest snapshot again.
Collecting is best effort: a failure leaves the objects for the next snapshot's
collection and never fails the write that took the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from embedb.distributed.log import OperationLog
from embedb.distributed.snapshots import SnapshotStore, log_positions
from embedb.errors import EmbedbError

KEEP_SNAPSHOTS = 2
ABANDONED_AFTER_S = 3600.0  # a put's temporary file this old was left by a writer that died (directory storage)

logger = logging.getLogger(__name__)


def collect(
    snapshots: SnapshotStore,
    log: OperationLog,
    *,
    catalog: OperationLog | None = None,
    every_shard: Sequence[SnapshotStore] = (),
) -> int:
    """After a snapshot: delete what no kept snapshot needs (``catalog``: also the catalog log's records that no
    shard of ``every_shard`` needs); return how many objects were deleted (0 when collecting failed)."""
    try:
        kept, deleted = snapshots.prune(KEEP_SNAPSHOTS)
        for folder in (snapshots.snapshots, snapshots.files, log.folder):
            deleted += snapshots.store.remove_abandoned(folder, ABANDONED_AFTER_S)
        oldest = log_positions(kept[0]) if len(kept) == KEEP_SNAPSHOTS else None
        if oldest is not None:
            deleted += log.delete_before(oldest[1])
        if catalog is not None:
            deleted += catalog.store.remove_abandoned(catalog.folder, ABANDONED_AFTER_S)
            needed = [_oldest_kept(shard) for shard in every_shard]
            if needed and all(position is not None for position in needed):
                deleted += catalog.delete_before(min(position for position in needed if position is not None))
        return deleted
    except (EmbedbError, OSError) as error:
        logger.warning("collecting %s failed (left for the next snapshot): %s", snapshots.snapshots, error)
        return 0


def _oldest_kept(shard: SnapshotStore) -> int | None:
    """The catalog position a shard's oldest kept snapshot holds (None: it has fewer than ``KEEP_SNAPSHOTS``)."""
    keys = shard.keys()
    if len(keys) < KEEP_SNAPSHOTS:
        return None
    positions = log_positions(keys[-KEEP_SNAPSHOTS])
    return None if positions is None else positions[0]
