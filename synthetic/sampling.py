"""Small vectorised sampling helpers shared by the world simulation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl


def choice_index(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """`n` indices drawn with the given (not necessarily normalised) weights."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def choice_of(rng: np.random.Generator, mix: Mapping[str, float], n: int) -> np.ndarray:
    """`n` keys of `mix` drawn with its weights (object array of str)."""
    keys = np.asarray(list(mix), dtype=object)
    return keys[choice_index(rng, list(mix.values()), n)]


def segment_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For segments of the given lengths: (segment index, position within segment) per element."""
    lengths = np.asarray(lengths, dtype=np.int64)
    segment = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(lengths.sum()) - np.repeat(starts, lengths)
    return segment, position


def segment_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each segment."""
    total = np.cumsum(values)
    starts = np.cumsum(lengths) - lengths
    before = np.concatenate([[0], total])[starts]
    return total - np.repeat(before, lengths)


def adjust_odds(p: np.ndarray, odds_ratio: np.ndarray) -> np.ndarray:
    """Probability after multiplying its odds by `odds_ratio`."""
    odds = p / (1 - p) * odds_ratio
    return odds / (1 + odds)


def masked(
    values: np.ndarray, keep: np.ndarray, dtype: type[pl.DataType] | pl.DataType
) -> pl.Series:
    """A typed series of `values` with nulls where `keep` is false."""
    if dtype == pl.String:
        series = pl.Series(np.asarray(values).astype(str), dtype=pl.String)
    else:
        series = pl.Series(np.asarray(values)).cast(dtype)
    return pl.select(pl.when(pl.Series(np.asarray(keep, dtype=bool))).then(series)).to_series()


def make_ids(prefix: str, numbers: np.ndarray | pl.Series, width: int) -> pl.Series:
    """Ids like `prefix` + zero-padded number."""
    digits = pl.Series(numbers).cast(pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).alias("id")


def make_hex_ids(prefix: str, numbers: np.ndarray | pl.Series, width: int) -> pl.Series:
    """Ids like `prefix` + zero-padded lower-case hexadecimal number."""
    digits = pl.Series(np.char.mod("%x", np.asarray(numbers, dtype=np.int64))).str.zfill(width)
    return (prefix + digits).alias("id")


def lookup(values: np.ndarray, mapping: Mapping[str, object]) -> np.ndarray:
    """Vectorised dictionary lookup of string codes."""
    series = pl.Series(np.asarray(values).astype(str), dtype=pl.String)
    return series.replace_strict(dict(mapping)).to_numpy()


def clock_seconds(
    rng: np.random.Generator, n: int, first: float, last: float, step: int = 300
) -> np.ndarray:
    """Seconds of the day between the hours, on a `step`-second grid."""
    return rng.integers(int(first * 3600) // step, int(last * 3600) // step, n) * step
