"""`rempart serve --config serve.yaml`: live mode (see :mod:`rempart.serve`); `rempart serve status`: what a
running server reports; `rempart serve token NAME`: a sender token and the line for serve.yaml."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from rempart.cli.console import console, err_console, report_errors
from rempart.errors import InputError, Location

app = typer.Typer(help="Live mode: receive the establishments' logs, detect and respond as they arrive.",
                  invoke_without_command=True)

ConfigFile = Annotated[Path, typer.Option("--config", "-c", envvar="REMPART_SERVE_CONFIG",
                                          help="serve.yaml (see examples/serve.yaml).")]


@app.callback()
@report_errors
def serve(ctx: typer.Context, config: ConfigFile = Path("serve.yaml")) -> None:
    """Start the server; it runs until SIGTERM or Ctrl-C, then stops cleanly."""
    if ctx.invoked_subcommand is not None:
        return
    from rempart.serve.config import load_serve_config
    from rempart.serve.server import serve_forever, start

    cfg = load_serve_config(config)

    async def main() -> None:
        with console.status("compiling the rules and replaying the journal…"):
            server = await start(cfg)
        for name, how in server.listening.items():
            note = " (at most once: no acknowledgement)" if how.split()[0] in ("udp", "tcp") else ""
            console.print(f"listening: {name} {how}{note}")
        console.print(f"{len(server.plan.rules)} rules; journal {cfg.journal.path}; events {cfg.events}")
        await serve_forever(server)
        console.print("stopped: everything acknowledged is journaled and processed")

    asyncio.run(main())


@app.command("status")
@report_errors
def status(config: ConfigFile = Path("serve.yaml"),
           as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False) -> None:
    """What the running server last reported (inputs, journal lag, events, alerts)."""
    from rempart.serve.config import load_serve_config
    from rempart.serve.server import STATUS_FILE

    cfg = load_serve_config(config)
    path = cfg.journal.path / STATUS_FILE
    if not path.exists():
        raise InputError("no status: the server has never run with this journal", Location(path),
                         "start it with `rempart serve --config " + str(config) + "`")
    data = json.loads(path.read_text(encoding="utf-8"))
    age = time.time() - float(data.get("written", 0))
    data["running"] = age < 5
    if as_json:
        print(json.dumps(data))
        return
    state = "running" if data["running"] else f"not running (last report {age:.0f} s ago)"
    console.print(f"server: {state}, pid {data['pid']}")
    for name, how in data["inputs"].items():
        at_most_once = name in data["at_most_once"]
        note = " — at most once (UDP / plain TCP syslog: no acknowledgement)" if at_most_once else ""
        console.print(f"  input {name}: {how}{note}")
    j = data["journal"]
    console.print(f"journal: {j['end']:,} records, checkpoint {j['checkpoint']:,}, lag {j['lag']:,}, "
                  f"{j['segments']} segments, {j['quarantined']} quarantined")
    console.print(f"events {data['events']:,}, batches {data['batches']:,}, alerts {data['alerts']:,}, "
                  f"quarantined records {data['quarantined']:,}")
    if not data["running"]:
        raise typer.Exit(1)


@app.command("token")
def token(name: Annotated[str, typer.Argument(help="The credential's name, e.g. dpi-winlogbeat.")],
          establishment: Annotated[str | None, typer.Option(help="Whose events it may send.")] = None,
          ) -> None:
    """Make a sender token: give the token to the shipper, put the printed lines in serve.yaml."""
    from rempart.serve.senders import new_token

    secret, digest = new_token()
    err_console.print("token (shown once; give it to the shipper):")
    print(secret)
    err_console.print("for serve.yaml, under senders.tokens:")
    line = f"  - {{name: {name}, establishment: {establishment}, sha256: {digest}}}" if establishment else \
        f"  - {{name: {name}, sha256: {digest}}}"
    err_console.print(line, soft_wrap=True, highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="serve")
