"""`rempart console`: the crisis console and its /api, over HTTPS (see :mod:`rempart.console`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rempart.cli.console import console, report_errors
from rempart.cli.options import open_case_store
from rempart.errors import InputError
from rempart.settings import Settings


@report_errors
def console_command(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", "--group", envvar="REMPART_INVENTORY",
                                            help="the group description (group.yaml)")],
    adapters: Annotated[Path | None, typer.Option("--adapters", envvar="REMPART_ADAPTERS",
                                                  help="adapters.yaml for runs started without one")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTPS port")] = 8443,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM); default: one made here")] = None,
    key: Annotated[Path | None, typer.Option(help="its private key (PEM)")] = None,
    refresh: Annotated[int, typer.Option(help="seconds between updates of the group board")] = 5,
) -> None:
    """Serve the crisis console (French pages, JSON API under /api) until Ctrl-C."""
    import uvicorn

    from rempart.console.app import create_app
    from rempart.console.context import ConsoleContext
    from rempart.console.tls import ensure_certificate, fingerprint
    from rempart.inventory import load_group

    if (cert is None) != (key is None):
        raise InputError("give both --cert and --key, or neither (a certificate is then made for this host)")
    if cert is None or key is None:
        cert, key = ensure_certificate(Settings().key_directory / "console-tls", host)
        console.print(f"certificat auto-signé {cert} — empreinte SHA-256 {fingerprint(cert)}")
    ctx = ConsoleContext(open_case_store(), load_group(inventory), adapters)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"console de crise : https://{shown}:{port}/  (API : https://{shown}:{port}/api/openapi.json)")
    uvicorn.run(create_app(ctx, refresh_seconds=refresh), host=host, port=port, ssl_certfile=str(cert),
                ssl_keyfile=str(key), log_level="warning", proxy_headers=False)


def register(app: typer.Typer) -> None:
    app.command("console")(console_command)
