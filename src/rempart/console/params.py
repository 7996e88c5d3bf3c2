"""Parameters the pages and the API share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# the store's integers are 64-bit at most: a larger number names nothing (a 422, never a server error)
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]
