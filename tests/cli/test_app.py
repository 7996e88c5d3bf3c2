from __future__ import annotations

from typer.testing import CliRunner

from rempart.cli.app import PANELS, app


def test_every_command_is_listed_under_its_lifecycle_stage() -> None:
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    listed = {n for group in PANELS.values() for n in group}
    assert sorted(n for n in names if n not in listed) == []
    assert sorted(listed - set(names)) == []


def test_help_shows_the_stages_in_order() -> None:
    out = CliRunner().invoke(app, ["--help"], terminal_width=100).output
    positions = [out.index(panel) for panel in PANELS]
    assert positions == sorted(positions)
