"""The command line: thin Typer commands over the stage services."""
