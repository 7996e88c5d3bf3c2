"""Options every stage's commands share, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# the group description: --inventory / -i (or --group), or REMPART_INVENTORY
Inventory = Annotated[
    Path,
    typer.Option(
        "--inventory", "-i", "--group", envvar="REMPART_INVENTORY", help="the group description (group.yaml)"
    ),
]
