"""Attack v23: a quadratic path in the trials' overlap check, and labels eco-collect cannot write.

- timeline._overlap compared two whole measurements (dataclass ==) at every trial of one that overlapped the
  other: four copies of a row of 2,000 trials (a 4.9-MB file) took 4.7 s. Each pair of rows is compared once.
"""

from __future__ import annotations

from dataclasses import replace

import synthetic

from ecocompute import domain
from validator import timeline


class _CountedTrial(domain.Trial):
    """A trial that counts how often it is compared with another."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedTrial.compared += 1
        return domain.Trial.__eq__(self, other)

    __hash__ = domain.Trial.__hash__


def _copies(n_copies: int, n_trials: int) -> domain.Submission:
    """A file whose one row is there ``n_copies`` times (every copy overlapping the others in time)."""
    sub = domain.parse(synthetic.submission(seed=23, n_measurements=1, n_trials=n_trials))
    row = sub.measurements[0]
    copies = tuple(
        replace(
            row, trials=tuple(_CountedTrial(**{f: getattr(t, f) for f in t.__dataclass_fields__}) for t in row.trials)
        )
        for _ in range(n_copies)
    )
    return replace(sub, measurements=copies)


def test_overlapping_copies_of_a_row_are_compared_once_a_pair() -> None:
    sub = _copies(3, 300)
    _CountedTrial.compared = 0
    assert timeline._overlap(sub, "copies.json", timeline.trial_spans(sub)) == []  # duplicate.measurement's
    assert _CountedTrial.compared <= 3 * 300  # at most one comparison of each pair's trials; was 180,000
