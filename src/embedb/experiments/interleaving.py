"""Team-draft interleaving of a champion and a challenger ranking, and credit from clicks.

Team draft (Radlinski, Kurup and Joachims, 2008) works like picking sides for a game:
the team with fewer picks so far chooses next, a coin decides when both have picked
equally often, and a team always takes its best-ranked document that is not in the
merged list yet. Each merged item is tagged with the team that picked it; a query's
winner is the team whose items drew more clicks.

Properties the tests check: every team's items appear in the order of its own ranking,
no document appears twice, the merged list has ``k`` items unless both rankings run out
first, and when the two rankings are the same the coin alone decides who gets the
credit, so neither arm wins systematically.

The coin is a ``random.Random`` seeded from the query (see :func:`query_seed`), so the
same query shows the same merged list every time it is replayed or audited.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from embedb.errors import InvalidArgumentError


class Team(enum.Enum):
    """The arm a merged item came from."""

    A = "A"  # the champion: the model version the alias points to now
    B = "B"  # the challenger: the candidate version under test


@dataclass(frozen=True)
class InterleavedItem:
    """One slot of the merged list: the document and the team that picked it."""

    doc_id: str
    team: Team


@dataclass(frozen=True)
class InterleavingTally:
    """Query-level outcomes of an interleaving experiment."""

    wins_a: int
    wins_b: int
    ties: int


def query_seed(query_id: str, *, salt: str = "") -> int:
    """Return a stable 64-bit seed for a query (the same in every process and Python run).

    ``salt`` separates experiments, so one query's coins differ between experiments.
    Python's ``hash()`` is salted per process and would not do.
    """
    digest = hashlib.blake2b(f"{salt}\x00{query_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def team_draft_interleave(
    ranking_a: Sequence[str], ranking_b: Sequence[str], *, k: int, seed: int | str
) -> list[InterleavedItem]:
    """Merge two rankings into at most ``k`` items by team draft, tagging each item's team.

    ``seed`` is an integer, or a query id that :func:`query_seed` turns into one.
    Documents repeated inside one ranking are taken once.

    Returns:
        The merged list; shorter than ``k`` only when both rankings together hold fewer
        than ``k`` distinct documents.

    Raises:
        InvalidArgumentError: ``k`` is not a positive integer or a ranking is a bare string.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}", k=k)
    for name, ranking in (("ranking_a", ranking_a), ("ranking_b", ranking_b)):
        if isinstance(ranking, str | bytes):
            raise InvalidArgumentError(f"{name} is a string, not a list of document ids", field=name)
    coin = random.Random(query_seed(seed) if isinstance(seed, str) else seed)
    rankings = {Team.A: ranking_a, Team.B: ranking_b}
    cursors = {Team.A: 0, Team.B: 0}
    picks = {Team.A: 0, Team.B: 0}
    merged: list[InterleavedItem] = []
    taken: set[str] = set()

    def next_doc(team: Team) -> str | None:
        ranking = rankings[team]
        while cursors[team] < len(ranking) and ranking[cursors[team]] in taken:
            cursors[team] += 1
        return ranking[cursors[team]] if cursors[team] < len(ranking) else None

    while len(merged) < k:
        if picks[Team.A] != picks[Team.B]:
            team = Team.A if picks[Team.A] < picks[Team.B] else Team.B
        else:
            team = Team.A if coin.random() < 0.5 else Team.B
        doc_id = next_doc(team)
        if doc_id is None:
            # This team has run out; the other fills the remaining slots on its own.
            team = Team.B if team is Team.A else Team.A
            doc_id = next_doc(team)
            if doc_id is None:
                break
        merged.append(InterleavedItem(doc_id, team))
        taken.add(doc_id)
        picks[team] += 1
    return merged


def credit_winner(merged: Sequence[InterleavedItem], clicked_doc_ids: Collection[str]) -> Team | None:
    """Return the team whose items in ``merged`` drew more clicks, or None on a tie.

    Clicks on documents that are not in the merged list are ignored; a query without
    clicks is a tie.
    """
    clicked = set(clicked_doc_ids)
    clicks_a = sum(1 for item in merged if item.team is Team.A and item.doc_id in clicked)
    clicks_b = sum(1 for item in merged if item.team is Team.B and item.doc_id in clicked)
    if clicks_a == clicks_b:
        return None
    return Team.A if clicks_a > clicks_b else Team.B


def tally_winners(winners: Iterable[Team | None]) -> InterleavingTally:
    """Count query winners (from :func:`credit_winner`) into wins of A, wins of B and ties."""
    counts = {Team.A: 0, Team.B: 0, None: 0}
    for winner in winners:
        counts[winner] += 1
    return InterleavingTally(wins_a=counts[Team.A], wins_b=counts[Team.B], ties=counts[None])
