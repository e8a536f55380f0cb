"""EmbeDB: a vector database that also runs the lifecycle of the embedding models behind its vectors.

Start here::

    import embedb
    db = embedb.connect("./data")          # or ":memory:", or "http://host:19530"
    db.create_collection("docs", dimension=384)
    db.insert("docs", [{"id": 1, "vector": [...], "title": "..."}])
    db.search("docs", [[...]], limit=5, filter='title like "A%"')
"""

from embedb.client import Client
from embedb.collection import Collection
from embedb.config import Durability, Settings
from embedb.connection import connect
from embedb.contract import Backend
from embedb.display import progress
from embedb.errors import (
    AlreadyExistsError,
    CollectionNotFoundError,
    CorruptionError,
    DataError,
    DimensionMismatchError,
    DirectoryLockedError,
    DuplicateKeyError,
    EmbedbError,
    FilterError,
    FilterSyntaxError,
    InvalidArgumentError,
    NotFoundError,
    SchemaError,
    StorageError,
)
from embedb.evaluation import Decision
from embedb.experiment import Experiment
from embedb.experiments import ExperimentReport
from embedb.iterators import QueryIterator, SearchIterator
from embedb.job import Job
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType, VectorField

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "Backend",
    "Client",
    "Collection",
    "CollectionNotFoundError",
    "CollectionSchema",
    "CorruptionError",
    "DataError",
    "DataType",
    "Decision",
    "DimensionMismatchError",
    "DirectoryLockedError",
    "DuplicateKeyError",
    "Durability",
    "EmbedbError",
    "Experiment",
    "ExperimentReport",
    "FieldSchema",
    "FilterError",
    "FilterSyntaxError",
    "InvalidArgumentError",
    "Job",
    "MetricType",
    "NotFoundError",
    "QueryIterator",
    "SchemaError",
    "SearchIterator",
    "Settings",
    "StorageError",
    "VectorField",
    "__version__",
    "connect",
    "progress",
]
