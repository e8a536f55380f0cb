"""EmbeDB on a Ray cluster: the same contract, rows sharded over Ray actors, durable in object storage.

Learnt from these names (docs/distributed.md has the design and the guarantees):

- ``RayBackend`` — the router: a ``Client`` whose ``_dispatch`` sends each
  operation the way ``routes.ROUTES`` says (``embedb.connect("ray://...")``);
- ``ShardServer`` — one shard: the embedded engine on its share of the rows,
  in a Ray actor, rebuilt from snapshots and logs;
- ``OperationLog`` — a numbered log of operations in an ``ObjectStore``
  (``S3Store`` through boto3, or ``DirectoryStore``), positions claimed with an
  atomic create, so no consensus of ours orders the writers;
- ``routing`` — pure functions: which shard owns a key, how answers merge.
"""

from __future__ import annotations

from embedb.distributed.backend import RayBackend
from embedb.distributed.log import LogRecord, OperationLog
from embedb.distributed.object_store import DirectoryStore, ObjectStore, S3Store, open_object_store
from embedb.distributed.shard import ShardServer

__all__ = [
    "DirectoryStore",
    "LogRecord",
    "ObjectStore",
    "OperationLog",
    "RayBackend",
    "S3Store",
    "ShardServer",
    "open_object_store",
]
