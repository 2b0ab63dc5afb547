"""``BoxTable``: Textual's ``DataTable`` without stale column widths.

Textual 8.2.8's ``DataTable`` sizes its columns when idle after rows arrive, but keeps
the lines it drew before that in a cache keyed without the widths: on a busy
terminal the header (or a row) stays drawn at the old widths, misaligned, until
something else changes. ``BoxTable`` drops those lines once the widths are known.
"""

from __future__ import annotations

from textual.widgets import DataTable
from textual.widgets._data_table import RowKey

__all__ = ["BoxTable"]


class BoxTable(DataTable):
    """A ``DataTable`` that redraws every line once its column widths change."""

    def _update_dimensions(self, new_rows: set[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1  # part of every line's cache key: the old lines go
        self.refresh()
