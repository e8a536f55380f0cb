"""``DataContract``: the vector-database half of the contract (collections to indexes); ``Backend`` adds the rest.

Split from ``embedb.contract.backend`` only to keep files small: ``Backend``
inherits every operation declared here, and ``OPERATIONS`` lists them first,
in this order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from embedb.contract import results
from embedb.contract.declare import Role, arguments_of, operation
from embedb.schema import CollectionSchema

# The most hits one search may return (``limit + offset``), as in Milvus.
MAX_SEARCH_LIMIT = 16_384
# The most shards a collection may ask for (a cluster has at most as many).
MAX_NUM_SHARDS = 1024


class DataContract(ABC):
    """Collections, partitions, load state, aliases, rows and indexes."""

    @abstractmethod
    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        """Carry out operation ``name`` with ``arguments`` (its parameters by name, ``self`` left out)."""

    # ---------------------------------------------------------- collections

    @operation(Role.ADMIN)
    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        *,
        primary_field_name: str = "id",
        id_type: str = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        max_length: int | None = None,
        enable_dynamic_field: bool = True,
        schema: CollectionSchema | dict[str, Any] | None = None,
        index_params: Any = None,
        description: str = "",
        properties: dict[str, Any] | None = None,
        num_shards: int | None = None,
    ) -> None:
        """Create a collection: quick setup from ``dimension``, or from a full ``schema``.

        ``properties`` are stored as with ``alter_collection_properties`` (``timezone``
        is the zone of TIMESTAMPTZ text without an offset). ``num_shards`` (Milvus's, 1 to
        ``MAX_NUM_SHARDS``): how many of a cluster's shards hold the rows (None: every shard);
        one node stores every row itself and only records it (None: 1). Raises
        ``CollectionAlreadyExistsError``, ``SchemaError``, ``InvalidNameError``, ``InvalidArgumentError``.
        """
        self._dispatch("create_collection", arguments_of(locals()))

    @operation(Role.READER, scope=(), listing=True)
    def list_collections(self) -> list[str]:
        """Names of every collection, sorted."""
        return self._dispatch("list_collections", arguments_of(locals()))

    @operation(Role.READER)
    def has_collection(self, collection_name: str) -> bool:
        """Whether a collection (not an alias) with that name exists."""
        return self._dispatch("has_collection", arguments_of(locals()))

    @operation(Role.READER)
    def describe_collection(self, collection_name: str) -> results.CollectionDescription:
        """Schema, partitions, aliases and properties of a collection (name or alias)."""
        return self._dispatch("describe_collection", arguments_of(locals()))

    @operation(Role.ADMIN)
    def drop_collection(self, collection_name: str) -> None:
        """Drop a collection and its data; raises ``CollectionNotFoundError``."""
        self._dispatch("drop_collection", arguments_of(locals()))

    # A token limited to the old name would lose the collection, so renaming needs a global admin.
    @operation(Role.ADMIN, scope=())
    def rename_collection(self, old_name: str, new_name: str) -> None:
        """Rename a collection; aliases keep pointing at it."""
        self._dispatch("rename_collection", arguments_of(locals()))

    @operation(Role.ADMIN)
    def truncate_collection(self, collection_name: str) -> None:
        """Delete every row (logged like a delete); the schema, indexes, partitions and aliases stay."""
        self._dispatch("truncate_collection", arguments_of(locals()))

    @operation(Role.ADMIN)
    def alter_collection_properties(self, collection_name: str, properties: dict[str, Any]) -> None:
        """Set properties (JSON values by name; ``describe_collection`` shows them). EmbeDB stores them, acts on none."""
        self._dispatch("alter_collection_properties", arguments_of(locals()))

    @operation(Role.ADMIN)
    def drop_collection_properties(self, collection_name: str, property_keys: Sequence[str]) -> None:
        """Remove properties by name (names not set are skipped)."""
        self._dispatch("drop_collection_properties", arguments_of(locals()))

    @operation(Role.ADMIN)
    def alter_collection_field(self, collection_name: str, field_name: str, field_params: dict[str, Any]) -> None:
        """Change a field's ``max_length`` (VARCHAR, ARRAY of VARCHAR) or ``max_capacity`` (ARRAY); shrinking is
        refused while a stored value is longer. ``mmap.enabled`` is accepted and changes nothing."""
        self._dispatch("alter_collection_field", arguments_of(locals()))

    @operation(Role.READER)
    def get_collection_stats(self, collection_name: str) -> results.CollectionStats:
        """``{"row_count": live rows, ...}`` plus storage details."""
        return self._dispatch("get_collection_stats", arguments_of(locals()))

    # ----------------------------------------------------------- partitions

    @operation(Role.WRITER)
    def create_partition(self, collection_name: str, partition_name: str) -> None:
        """Add a partition; raises ``PartitionAlreadyExistsError``."""
        self._dispatch("create_partition", arguments_of(locals()))

    @operation(Role.WRITER)
    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        """Delete a partition and every row in it."""
        self._dispatch("drop_partition", arguments_of(locals()))

    @operation(Role.READER)
    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        """Whether the partition exists."""
        return self._dispatch("has_partition", arguments_of(locals()))

    @operation(Role.READER)
    def list_partitions(self, collection_name: str) -> list[str]:
        """Partition names, ``_default`` first."""
        return self._dispatch("list_partitions", arguments_of(locals()))

    # ----------------------------------------------------------- load state
    # A collection is served once created; a release (kept across restarts) makes reads refuse it, as in Milvus.

    @operation(Role.WRITER)
    def load_collection(self, collection_name: str) -> None:
        """Serve every partition of the collection again after a release (a no-op when it is served)."""
        self._dispatch("load_collection", arguments_of(locals()))

    @operation(Role.WRITER)
    def release_collection(self, collection_name: str) -> None:
        """Refuse reads (``CollectionNotLoadedError``) until ``load_collection``; writes still go in."""
        self._dispatch("release_collection", arguments_of(locals()))

    @operation(Role.WRITER)
    def load_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        """Serve these partitions again; raises ``PartitionNotFoundError``."""
        self._dispatch("load_partitions", arguments_of(locals()))

    @operation(Role.WRITER)
    def release_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        """Stop serving these partitions: reads naming one raise ``PartitionNotLoadedError``, others skip them."""
        self._dispatch("release_partitions", arguments_of(locals()))

    @operation(Role.READER)
    def get_load_state(self, collection_name: str, partition_name: str | None = None) -> results.LoadState:
        """``{"state": "Loaded"}`` or ``"NotLoad"``, of the collection (loaded while any partition is) or one partition."""
        return self._dispatch("get_load_state", arguments_of(locals()))

    # -------------------------------------------------------------- aliases

    @operation(Role.ADMIN)
    def create_alias(self, collection_name: str, alias: str) -> None:
        """Give a collection another name usable by every data call."""
        self._dispatch("create_alias", arguments_of(locals()))

    # Moving an alias needs admin on the collection it points to now and on the new one.
    @operation(Role.ADMIN, scope=("collection_name", "alias"))
    def alter_alias(self, collection_name: str, alias: str) -> None:
        """Re-point an existing alias to another collection, atomically."""
        self._dispatch("alter_alias", arguments_of(locals()))

    @operation(Role.ADMIN, scope=("alias",))
    def drop_alias(self, alias: str) -> None:
        """Remove an alias (the collection stays)."""
        self._dispatch("drop_alias", arguments_of(locals()))

    @operation(Role.READER)
    def list_aliases(self, collection_name: str | None = None) -> results.AliasList:
        """``{"aliases": [...], "collection_name": ...}`` (all aliases when no collection is named)."""
        return self._dispatch("list_aliases", arguments_of(locals()))

    @operation(Role.READER, scope=("alias",))
    def describe_alias(self, alias: str) -> results.AliasDescription:
        """``{"alias": ..., "collection_name": ...}``; raises ``AliasNotFoundError``."""
        return self._dispatch("describe_alias", arguments_of(locals()))

    # ----------------------------------------------------------------- data

    @operation(Role.WRITER)
    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> results.InsertResult:
        """Add rows (list of dicts, dict of columns, Arrow table or DataFrame).

        A model-bound vector field is embedded from its source text; vectors you
        bring for it must name their model version in ``embedding_versions``
        (``{"embedding": "models:/minilm/1"}``). Returns ``{"insert_count": n,
        "ids": [...]}``. Raises ``DataError`` (naming row and field) or
        ``DuplicateKeyError`` and then writes nothing.
        """
        return self._dispatch("insert", arguments_of(locals()))

    @operation(Role.WRITER)
    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
        partial_update: bool = False,
        field_ops: dict[str, str] | None = None,
    ) -> results.UpsertResult:
        """Insert rows or replace those with the same primary key, atomically; ``{"upsert_count": n}``.

        With ``partial_update``, a row names its key and the fields to change; the
        others keep their stored values (a new key needs every required field).
        ``field_ops`` (``{"tags": "array_append"}``, or ``"array_remove"``, ``"replace"``)
        make a partial update that appends a row's ARRAY values to the stored ones,
        or removes every stored element equal to one given; read and write happen
        under the collection's write lock, so concurrent updates do not lose each other.
        """
        return self._dispatch("upsert", arguments_of(locals()))

    @operation(Role.WRITER)
    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> results.DeleteResult:
        """Delete by primary keys or by filter; ``{"delete_count": n}``."""
        return self._dispatch("delete", arguments_of(locals()))

    @operation(Role.READER)
    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[results.Row]:
        """Rows with the given primary keys, in that order; missing keys are skipped."""
        return self._dispatch("get", arguments_of(locals()))

    @operation(Role.READER)
    def query(
        self,
        collection_name: str,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        partition_names: Sequence[str] | None = None,
        ids: Sequence[Any] | None = None,
        filter_params: dict[str, Any] | None = None,
        order_by: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> list[results.Row]:
        """Rows matching a filter, ordered by primary key (or by ``order_by``: ``["price:desc", "year"]``, then key);
        ``output_fields=["count(*)"]`` counts. ``timezone`` (IANA name) reads the filter's ``ISO '...'``
        instants without an offset there instead of in the collection's ``timezone`` property."""
        return self._dispatch("query", arguments_of(locals()))

    @operation(Role.READER)
    def search(
        self,
        collection_name: str,
        data: Any,
        *,
        filter: str = "",
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
        filter_params: dict[str, Any] | None = None,
        group_by_field: str | None = None,
        group_size: int | None = None,
        strict_group_size: bool | None = None,
        embedding_version: str | None = None,
        user_key: str | None = None,
        order_by: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> results.SearchHits:
        """Nearest neighbours: one list of hits per query, each ``{"id", "distance", "entity"}``.

        ``data`` is vectors, or query text for a model-bound field (embedded by the
        model version whose vectors it is compared to: the serving one, or
        ``embedding_version``). While an experiment runs on the field, text
        searches are routed by it (``user_key`` keeps a user in one arm) and each
        hit also carries ``query_id`` and ``arm``. ``order_by`` orders each query's
        hits by scalar fields (``["price:desc"]``) instead of distance; ``timezone``
        is as in ``query``.
        """
        return self._dispatch("search", arguments_of(locals()))

    @operation(Role.WRITER)
    def flush(self, collection_name: str) -> None:
        """Seal in-memory rows into segment files (data is already durable in the WAL)."""
        self._dispatch("flush", arguments_of(locals()))

    @operation(Role.WRITER)
    def compact(self, collection_name: str) -> results.CompactResult:
        """Merge small or deletion-heavy segments now; ``{"merged_segments": n}``."""
        return self._dispatch("compact", arguments_of(locals()))

    @operation(Role.READER)
    def hybrid_search(
        self,
        collection_name: str,
        reqs: list[dict[str, Any]],
        ranker: dict[str, Any] | None = None,
        *,
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> results.SearchHits:
        """Several searches fused into one ranking, one list of hits per query.

        ``reqs``: ``{"data", "anns_field", "param", "limit", "expr", "expr_params"}`` each
        (dense or sparse fields, BM25 text too); ``ranker``: ``{"strategy": "rrf",
        "params": {"k": 60}}`` (the default) or ``{"strategy": "weighted", "params":
        {"weights": [...], "norm_score": true}}``. A hit's ``distance`` is its fused score.
        """
        return self._dispatch("hybrid_search", arguments_of(locals()))

    @operation(Role.READER)
    def search_with(
        self,
        collection_name: str,
        config: str,
        data: str | list[str],
        *,
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        user_key: str | None = None,
    ) -> results.SearchHits:
        """Search with query text the way a registered search configuration says, one list of hits per query.

        ``config`` names a version of a ``search_config`` model (``"docs_search@champion"``),
        registered from ``{"anns_field": ..., "search_params"?, "filter"?}`` (one field) or
        ``{"reqs": [...], "ranker"?}`` (a hybrid). While an experiment on that model runs
        and ``config`` names its champion, the search is routed by it (each hit gains
        ``query_id`` and ``arm``; ``user_key`` keeps a user in one arm of a split).
        """
        return self._dispatch("search_with", arguments_of(locals()))

    @operation(Role.READER)
    def run_analyzer(
        self,
        texts: str | list[str],
        analyzer_params: dict[str, Any] | None = None,
        *,
        collection_name: str | None = None,
        field_name: str | None = None,
    ) -> list[Any]:
        """The tokens an analyzer makes of each text (a list of tokens for one text, a list of lists for several).

        ``analyzer_params`` as in a VARCHAR field's schema (``{"type": "english"}``;
        None: standard), or the analyzer of ``collection_name``'s field ``field_name``.
        """
        return self._dispatch("run_analyzer", arguments_of(locals()))

    # -------------------------------------------------------------- indexes

    @operation(Role.WRITER)
    def create_index(
        self,
        collection_name: str,
        index_params: Any = None,
        *,
        field_name: str | None = None,
        index_type: str | None = None,
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        index_name: str | None = None,
        sync: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Index a vector field: pymilvus ``IndexParams`` (or a list of dicts), or ``field_name=``/``index_type=``/``params=``.

        Types: FLAT, HNSW (``M``, ``efConstruction``), IVF_FLAT and IVF_SQ8
        (``nlist``), IVF_PQ (``nlist``, ``m``, ``nbits``), HNSWLIB, ANNOY
        (``n_trees``), and AUTOINDEX (HNSW; ``describe_index`` shows the pick).
        Sealed segments are indexed in the background; with ``sync`` (the
        default, as in pymilvus) the call returns once they are. Creating the
        same index again is a no-op. Raises ``InvalidArgumentError`` (unknown
        type, parameter out of range, wrong metric), ``FieldNotFoundError`` or
        ``IndexAlreadyExistsError`` — and then defines nothing.
        """
        self._dispatch("create_index", arguments_of(locals()))

    @operation(Role.READER)
    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        """Index names of a collection (only the one on ``field_name`` when given)."""
        return self._dispatch("list_indexes", arguments_of(locals()))

    @operation(Role.READER)
    def describe_index(self, collection_name: str, index_name: str) -> results.IndexDescription:
        """Type, metric, parameters and build progress (``state``: Finished / InProgress / Failed, ``indexed_rows``...).

        Raises ``IndexNotFoundError``.
        """
        return self._dispatch("describe_index", arguments_of(locals()))

    @operation(Role.WRITER)
    def alter_index_properties(self, collection_name: str, index_name: str, properties: dict[str, Any]) -> None:
        """Set an index's properties (shown by ``describe_index``); stored, not acted on."""
        self._dispatch("alter_index_properties", arguments_of(locals()))

    @operation(Role.WRITER)
    def drop_index_properties(self, collection_name: str, index_name: str, property_keys: Sequence[str]) -> None:
        """Remove index properties by name (names not set are skipped)."""
        self._dispatch("drop_index_properties", arguments_of(locals()))

    @operation(Role.WRITER)
    def drop_index(self, collection_name: str, index_name: str) -> None:
        """Remove an index and its files; searches scan exactly from then on. Raises ``IndexNotFoundError``."""
        self._dispatch("drop_index", arguments_of(locals()))
