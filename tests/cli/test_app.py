from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from rempart.cli.app import INSTALLERS, PANELS, app, full_app


def test_every_command_is_listed_under_its_lifecycle_stage() -> None:
    whole = full_app()
    names = [c.name or "" for c in whole.registered_commands]
    names += [g.name or "" for g in whole.registered_groups]
    listed = {n for group in PANELS.values() for n in group}
    assert sorted(n for n in names if n not in listed) == []
    assert sorted(listed - set(names)) == []
    assert sorted(INSTALLERS) == sorted(names)  # each command is found where it is registered


def test_help_shows_the_stages_in_order() -> None:
    out = CliRunner().invoke(app, ["--help"], terminal_width=100).output
    positions = [out.index(panel) for panel in PANELS]
    assert positions == sorted(positions)
    assert all(name in out for names in PANELS.values() for name in names)


def test_a_typo_is_answered_with_the_command_meant() -> None:
    result = CliRunner().invoke(app, ["hnt"])
    assert result.exit_code == 2
    assert "Did you mean 'hunt'?" in result.output


# what `rempart hunt` has no use for: the other stages and their heavy libraries
NOT_FOR_A_HUNT = ("rempart.continuity", "rempart.notify", "rempart.respond", "rempart.recover",
                  "rempart.investigate", "rempart.adapters", "reportlab", "fhir", "segno")


def test_a_command_imports_only_its_own_stage() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rempart.cli.app import app\n"
        "result = CliRunner().invoke(app, ['hunt', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = [m for m in out.split() if m.startswith(NOT_FOR_A_HUNT)]
    assert loaded == []
    assert "rempart.cli.hunt_cmd" in out.split()
