"""Progress bars for every phase that takes more than a few seconds (tqdm, on stderr).

One helper so that every command draws them the same way: a bar on a terminal, and nothing in the
way of a pipe's parsing (tqdm writes to stderr; ``leave=False`` clears finished bars).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, unit: str = "img", total: int | None = None,
             enabled: bool = True) -> Iterator[T] | Iterable[T]:
    """``items`` wrapped in a tqdm bar labelled ``desc`` (plain ``items`` when disabled)."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, leave=False, dynamic_ncols=True)
