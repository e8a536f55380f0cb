"""The embedded engine's core: one ``Database`` per data directory, shared through ``SHARED``.

``Database`` builds and owns storage, indexes, the model registry, embedding
bindings, backfills, the lifecycle service and experiments (see
``embedb.engine.database``); ``SHARED`` lets every client of one process that
opens the same directory use one started ``Database``
(``embedb.engine.sharing``). The embedded ``Backend`` is an adapter over a
``Database``; nothing below this layer knows of clients or protocols.
"""

from embedb.engine.database import Database, DatabaseState
from embedb.engine.sharing import SHARED, DatabaseShare

__all__ = ["SHARED", "Database", "DatabaseShare", "DatabaseState"]
