"""Voluntary self-identification, and the adverse-impact report New York City's Local Law 144 bias audits publish.

A candidate may say their sex and race/ethnicity on the invitation page (never required, "prefer not to say" the
default). It is kept apart from the interview, shown to nobody who assesses them, and used only in aggregate here:
for one job, per category (sex, race/ethnicity, and each intersection of the two),

  selection rate  = candidates advanced / candidates decided (advanced or rejected)
  scoring rate    = candidates scoring above the median score of everyone scored for the job / candidates scored
  impact ratio    = a category's rate / the highest category's rate

as the rules of the NYC Department of Consumer and Worker Protection (6 RCNY 5-300) define them. Candidates who did not
say are counted apart ("unknown") and are in no ratio; a category with under 2 % of the candidates may be left out
of the ratios, and is marked so rather than dropped.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

Sex = Literal["female", "male", "undisclosed"]
Race = Literal[
    "hispanic_or_latino",
    "white",
    "black_or_african_american",
    "native_hawaiian_or_pacific_islander",
    "asian",
    "american_indian_or_alaska_native",
    "two_or_more_races",
    "undisclosed",
]
UNDISCLOSED = "undisclosed"
SEXES: tuple[str, ...] = tuple(v for v in get_args(Sex) if v != UNDISCLOSED)
RACES: tuple[str, ...] = tuple(v for v in get_args(Race) if v != UNDISCLOSED)
SMALL_CATEGORY_SHARE = 0.02  # under this share of the candidates, a category may be left out of the impact ratios


class SelfIdentification(BaseModel):
    """What a candidate chose to say; "undisclosed" is the default and is never asked again."""

    model_config = ConfigDict(extra="forbid")

    sex: Sex = "undisclosed"
    race: Race = "undisclosed"


@dataclass(frozen=True)
class Outcome:
    """One candidate of the job: what they said (if anything), and what came of their interview."""

    sex: str
    race: str
    decision: str | None  # HR's latest decision
    score: float | None  # the report's overall score


def _rates(outcomes: Sequence[Outcome], key: Any, categories: Iterable[str], total: int, median: float | None) -> list[dict[str, Any]]:
    """`median`: of every scored candidate of the job (the sample), whether or not they said their category."""
    rows: list[dict[str, Any]] = []
    for category in categories:
        members = [o for o in outcomes if key(o) == category]
        decided = [o for o in members if o.decision in ("advance", "reject")]
        selected = [o for o in decided if o.decision == "advance"]
        with_score = [o for o in members if o.score is not None]
        above = [o for o in with_score if median is not None and o.score is not None and o.score > median]
        rows.append(
            {
                "category": category,
                "candidates": len(members),
                "decided": len(decided),
                "selected": len(selected),
                "selection_rate": round(len(selected) / len(decided), 4) if decided else None,
                "scored": len(with_score),
                "scored_above_median": len(above),
                "scoring_rate": round(len(above) / len(with_score), 4) if with_score else None,
                "small": total > 0 and len(members) / total < SMALL_CATEGORY_SHARE,
            }
        )
    for rate in ("selection_rate", "scoring_rate"):
        counted: list[float] = [r[rate] for r in rows if r[rate] is not None and not r["small"]]
        best = max(counted, default=None)
        ratio = rate.replace("rate", "impact_ratio")
        for r in rows:
            r[ratio] = round(r[rate] / best, 4) if best and r[rate] is not None and not r["small"] else None
    return rows


def adverse_impact(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The report for one job's candidates."""
    known = [o for o in outcomes if o.sex != UNDISCLOSED or o.race != UNDISCLOSED]
    scored = [o.score for o in outcomes if o.score is not None]
    median = statistics.median(scored) if scored else None
    both = [o for o in outcomes if UNDISCLOSED not in (o.sex, o.race)]
    intersections = [f"{s}|{r}" for s in SEXES for r in RACES]
    return {
        "candidates": len(outcomes),
        "median_score": None if median is None else round(median, 2),
        "unknown": {
            "sex": sum(o.sex == UNDISCLOSED for o in outcomes),
            "race": sum(o.race == UNDISCLOSED for o in outcomes),
            "any": len(outcomes) - len(known),
        },
        "sex": _rates([o for o in outcomes if o.sex != UNDISCLOSED], lambda o: o.sex, SEXES, len(outcomes), median),
        "race": _rates([o for o in outcomes if o.race != UNDISCLOSED], lambda o: o.race, RACES, len(outcomes), median),
        "intersectional": _rates(both, lambda o: f"{o.sex}|{o.race}", intersections, len(outcomes), median),
    }
