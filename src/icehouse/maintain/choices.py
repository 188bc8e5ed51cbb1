"""The maintenance choices a user names: compaction strategies and the orphan safety age.

They live apart from the code that acts on them so that the CLI can offer them in its
options, and the ``Lake`` in its signatures, without loading PyIceberg or PyArrow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

Strategy = Literal["binpack", "sort", "zorder"]

DEFAULT_OLDER_THAN = timedelta(days=3)
"""Orphan removal keeps unreferenced files younger than this: a writer writes its data
files before it commits them, and a commit may take that long to land (or be retried)."""
