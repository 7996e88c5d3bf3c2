"""The last words of the demo: how to open the crisis console on the data it left, and with which accounts."""

from __future__ import annotations

import shlex

from rempart.demo.context import DemoContext


def console_command(ctx: DemoContext) -> str:
    """The command that serves the console on the demo's case store, kits and keys."""
    env = {
        "REMPART_DATABASE_URL": ctx.store.url,
        "REMPART_HOME": str((ctx.workdir / "continuity").resolve()),
        "REMPART_KEYS_DIR": str(ctx.keys_dir),
    }
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"{prefix} rempart console --inventory {shlex.quote(str(ctx.group_path.resolve()))}"


def print_console(ctx: DemoContext) -> None:
    accounts = sorted(ctx.facts.get("accounts.credentials", {}))
    ctx.console.print("Console de crise sur les données de la démo (HTTPS, certificat auto-signé créé au "
                      "premier lancement) :")
    ctx.console.print(f"  {console_command(ctx)}", soft_wrap=True, markup=False)
    ctx.console.print("  puis ouvrez https://127.0.0.1:8443/")
    if accounts:
        ctx.console.print(
            f"  comptes : {', '.join(accounts)} — mot de passe et secret TOTP de chacun dans "
            f"{ctx.keys_dir / 'accounts.json'} (lisible par vous seul ; `oathtool --totp -b SECRET` ou "
            "votre application d'authentification donne le code)",
            soft_wrap=True,
        )
