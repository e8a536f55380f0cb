"""How one text search inside a running experiment is answered, tagged and logged.

Every query of the search gets a fresh query id. Then, by the experiment's mode:

- ``shadow``: the champion answers on the caller's thread; the challenger runs the
  same queries through ``submit`` (a background executor) and the log entry, with
  both rankings and both latencies, is written when it finishes. The answer is
  exactly the champion's, with ``query_id`` and ``arm`` added to each hit.
- ``split``: each query goes to one arm, chosen by a salted hash of ``user_key`` (so a
  user stays in one arm) or, without a user key, of its query id.
- ``interleave``: both arms search ``offset + limit`` deep; team draft
  (:mod:`embedb.experiments.interleaving`), seeded by the query id and the experiment's
  salt, merges the two rankings, and each hit names the arm that picked it.
  Distances in one merged list come from different models and are not comparable.

Latencies are wall-clock milliseconds of the arm's search call, query embedding
included; queries searched in one batch share their batch's latency.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embedb.experiments.interleaving import Team, query_seed, team_draft_interleave
from embedb.experiments.records import Arm, ExperimentMode, ExperimentRecord, QueryLogEntry

Hits = list[dict[str, Any]]
ArmSearch = Callable[[list[str], str, int, int], list[Hits]]
"""``search(texts, model_version_uri, limit, offset)``: one arm's hits per text."""

SHADOW_SKIPPED = "shadow skipped: the challenger's backlog is full"


@dataclass(frozen=True)
class RouteContext:
    """What routing one search needs besides its queries: the experiment and the seams to search, log and defer."""

    experiment: ExperimentRecord
    search: ArmSearch
    log: Callable[[QueryLogEntry], None]
    # Runs a task off the response path; returns False when it refuses (backlog full).
    submit: Callable[[Callable[[], None]], bool]
    # A short description of the index each arm's vectors are searched with.
    indexes: dict[str, str]


def new_query_id() -> str:
    """A fresh, unguessable query id."""
    return uuid.uuid4().hex


def assign_arm(salt: str, key: str, split: float) -> Arm:
    """The arm a user key (or query id) falls in: the challenger for a ``split`` share of keys.

    The salted hash is the same in every process and run, so a user stays in one arm;
    the salt differs per experiment, so arms are drawn afresh for each experiment.
    """
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    share = int.from_bytes(digest, "big") / 2.0**64
    return Arm.CHALLENGER if share < split else Arm.CHAMPION


def route(context: RouteContext, texts: list[str], *, limit: int, offset: int, user_key: str | None) -> list[Hits]:
    """Answer ``texts`` as the experiment says, tag each hit with ``query_id`` and ``arm``, and log each query."""
    query_ids = [new_query_id() for _ in texts]
    mode = context.experiment.mode
    if mode is ExperimentMode.SHADOW:
        return _shadow(context, texts, query_ids, limit=limit, offset=offset, user_key=user_key)
    if mode is ExperimentMode.SPLIT:
        return _split(context, texts, query_ids, limit=limit, offset=offset, user_key=user_key)
    return _interleave(context, texts, query_ids, limit=limit, offset=offset, user_key=user_key)


def _timed(search: ArmSearch, texts: list[str], version: str, limit: int, offset: int) -> tuple[list[Hits], float]:
    started = time.perf_counter()
    hits = search(texts, version, limit, offset)
    return hits, (time.perf_counter() - started) * 1000.0


def _tag(hits: Hits, query_id: str, arm: Arm) -> Hits:
    return [{**hit, "query_id": query_id, "arm": arm.value} for hit in hits]


def _ids(hits: Hits) -> list[Any]:
    return [hit["id"] for hit in hits]


def _versions(experiment: ExperimentRecord) -> dict[str, str]:
    return {Arm.CHAMPION.value: experiment.champion_version, Arm.CHALLENGER.value: experiment.challenger_version}


def _shadow(
    context: RouteContext, texts: list[str], query_ids: list[str], *, limit: int, offset: int, user_key: str | None
) -> list[Hits]:
    experiment = context.experiment
    champion, champion_ms = _timed(context.search, texts, experiment.champion_version, limit, offset)
    answer = [_tag(hits, query_id, Arm.CHAMPION) for hits, query_id in zip(champion, query_ids, strict=True)]
    now = time.time()

    def entries(challenger: list[Hits] | None, challenger_ms: float | None, error: str | None) -> None:
        for position, query_id in enumerate(query_ids):
            champion_ids = _ids(champion[position])
            context.log(
                QueryLogEntry(
                    query_id=query_id,
                    experiment_id=experiment.id,
                    time=now,
                    arm=Arm.CHAMPION,
                    user_key=user_key,
                    served_version=experiment.champion_version,
                    versions=_versions(experiment),
                    indexes=context.indexes,
                    latency_ms=champion_ms,
                    champion_latency_ms=champion_ms,
                    challenger_latency_ms=challenger_ms,
                    returned_ids=champion_ids,
                    champion_ids=champion_ids,
                    challenger_ids=_ids(challenger[position]) if challenger is not None else None,
                    error=error,
                    text=texts[position],
                )
            )

    def run_challenger() -> None:
        try:
            challenger, challenger_ms = _timed(context.search, texts, experiment.challenger_version, limit, offset)
        except Exception as failure:  # the answer is given already: record why the shadow has no result
            entries(None, None, f"challenger failed: {type(failure).__name__}: {failure}")
        else:
            entries(challenger, challenger_ms, None)

    if not context.submit(run_challenger):
        entries(None, None, SHADOW_SKIPPED)
    return answer


def _split(
    context: RouteContext, texts: list[str], query_ids: list[str], *, limit: int, offset: int, user_key: str | None
) -> list[Hits]:
    experiment = context.experiment
    arms = [
        assign_arm(experiment.salt, user_key if user_key is not None else qid, experiment.split) for qid in query_ids
    ]
    answer: list[Hits] = [[] for _ in texts]
    now = time.time()
    for arm in (Arm.CHAMPION, Arm.CHALLENGER):
        positions = [position for position, assigned in enumerate(arms) if assigned is arm]
        if not positions:
            continue
        version = experiment.version_of(arm)
        hits, latency_ms = _timed(context.search, [texts[p] for p in positions], version, limit, offset)
        for position, arm_hits in zip(positions, hits, strict=True):
            answer[position] = _tag(arm_hits, query_ids[position], arm)
            context.log(
                QueryLogEntry(
                    query_id=query_ids[position],
                    experiment_id=experiment.id,
                    time=now,
                    arm=arm,
                    user_key=user_key,
                    served_version=version,
                    versions=_versions(experiment),
                    indexes=context.indexes,
                    latency_ms=latency_ms,
                    champion_latency_ms=latency_ms if arm is Arm.CHAMPION else None,
                    challenger_latency_ms=latency_ms if arm is Arm.CHALLENGER else None,
                    returned_ids=_ids(arm_hits),
                    text=texts[position],
                )
            )
    return answer


def _interleave(
    context: RouteContext, texts: list[str], query_ids: list[str], *, limit: int, offset: int, user_key: str | None
) -> list[Hits]:
    experiment = context.experiment
    depth = offset + limit
    champion, champion_ms = _timed(context.search, texts, experiment.champion_version, depth, 0)
    challenger, challenger_ms = _timed(context.search, texts, experiment.challenger_version, depth, 0)
    now = time.time()
    answer: list[Hits] = []
    for query_id, text, hits_a, hits_b in zip(query_ids, texts, champion, challenger, strict=True):
        by_team = {Team.A: {str(h["id"]): h for h in hits_a}, Team.B: {str(h["id"]): h for h in hits_b}}
        merged = team_draft_interleave(
            [str(h["id"]) for h in hits_a],
            [str(h["id"]) for h in hits_b],
            k=depth,
            seed=query_seed(query_id, salt=experiment.salt),
        )[offset:]
        page = [
            {**by_team[item.team][item.doc_id], "query_id": query_id, "arm": _ARM_OF_TEAM[item.team].value}
            for item in merged
        ]
        answer.append(page)
        context.log(
            QueryLogEntry(
                query_id=query_id,
                experiment_id=experiment.id,
                time=now,
                arm=Arm.INTERLEAVED,
                user_key=user_key,
                served_version=f"{experiment.champion_version} + {experiment.challenger_version}",
                versions=_versions(experiment),
                indexes=context.indexes,
                latency_ms=champion_ms + challenger_ms,
                champion_latency_ms=champion_ms,
                challenger_latency_ms=challenger_ms,
                returned_ids=_ids(page),
                teams=[hit["arm"] for hit in page],
                champion_ids=_ids(hits_a),
                challenger_ids=_ids(hits_b),
                text=text,
            )
        )
    return answer


_ARM_OF_TEAM = {Team.A: Arm.CHAMPION, Team.B: Arm.CHALLENGER}
TEAM_OF_ARM = {arm.value: team for team, arm in _ARM_OF_TEAM.items()}
