"""Online experiments: champion against challenger on real traffic, on a model-bound field or a search configuration.

Learn the layer from these names:

- ``ExperimentService`` — start, route, log, join feedback, report, stop,
  promote; one per database, its routing table read by every search;
- ``ExperimentRecord`` / ``ExperimentMode`` / ``ExperimentState`` / ``Arm`` /
  ``Feedback`` / ``QueryLogEntry`` — experiments, their logged queries and
  feedback as the catalog keeps them;
- ``route`` / ``RouteContext`` / ``Hits`` / ``ArmSearch`` — how one search is
  answered under shadow, split (salted sticky hash) or team-draft interleaving;
- ``config_route`` / ``CONFIG_FLAVOR`` — experiments on a search configuration
  model's versions (``search_with`` traffic; promotion moves an alias);
- ``QueryLog`` — batched logging off the search path; lost entries are counted;
- ``ExperimentReport`` / ``build_report`` — the online verdict from the logs.

What this layer does not do: it embeds nothing and searches nothing itself —
the search path hands it a function that searches one arm — and it promotes
only through ``embedb.lifecycle.LifecycleService``.
"""

from embedb.experiments.configs import CONFIG_FLAVOR, config_route
from embedb.experiments.query_log import QueryLog
from embedb.experiments.records import (
    Arm,
    ExperimentMode,
    ExperimentRecord,
    ExperimentState,
    Feedback,
    QueryLogEntry,
)
from embedb.experiments.report import ExperimentReport, build_report
from embedb.experiments.routing import ArmSearch, Hits, RouteContext, route
from embedb.experiments.service import ExperimentService

__all__ = [
    "CONFIG_FLAVOR",
    "Arm",
    "ArmSearch",
    "ExperimentMode",
    "ExperimentRecord",
    "ExperimentReport",
    "ExperimentService",
    "ExperimentState",
    "Feedback",
    "Hits",
    "QueryLog",
    "QueryLogEntry",
    "RouteContext",
    "build_report",
    "config_route",
    "route",
]
