"""rotate db-password | vault-token | oauth: secrets replaced without downtime (automation/rotate).

Dry run by default: lists the consumers each stack would roll and any unfinished rotation.
`--apply` rotates (or first finishes a rotation a killed run left). The new value is generated,
or read from stdin with `--value-stdin`; it is never printed.
"""

from __future__ import annotations

from typing import Any

import click

from automation.context import Context
from automation.exit_codes import ExitCode
from automation.render import Result
from automation.verb import run_verb


def _run(ctx: Context, cred: Any, apply: bool, from_stdin: bool) -> Result:
    from automation.rotate.run import plan, rotate

    name = f"rotate {cred.kind}"
    if not apply:
        return Result(name, ExitCode.OK, plan(ctx, cred), human=_plan_text)
    from automation.rotate.value import new_value

    value = new_value(from_stdin)
    return Result(name, ExitCode.OK, rotate(ctx, cred, value), human=_done_text)


def _plan_text(data: dict[str, Any]) -> str:
    lines = [f"rotate {data['rotation']} {data['target']} (dry run; --apply to rotate):"]
    for stack, names in data["consumers"].items():
        if stack in data.get("not_deployed", []):
            lines.append(f"  {stack}: not deployed here (nothing to roll)")
            continue
        lines.append(f"  {stack}: {', '.join(names) if names else 'no consumer services'}")
    pending = data.get("unfinished")
    if pending:
        if pending.get("damaged"):
            lines.append(f"  {pending['damaged']}")
        does = "rolls it back" if pending["next_run"] == "rolls back" else "completes it"
        lines.append(f"  an interrupted rotation is journalled; --apply {does}")
    return "\n".join(lines)


def _done_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['rotation']} {data['target']}: {data['outcome']} ({data['from']} -> {data['to']})"
    ]
    for stack, names in data["consumers"].items():
        lines.append(f"  {stack}: rolled {', '.join(names) if names else 'no consumer services'}")
    if data.get("next"):
        lines.append(f"  next: {data['next']}")
    return "\n".join(lines)


_apply = click.option("--apply", is_flag=True, help="Rotate; without it, only list consumers.")
_stdin = click.option(
    "--value-stdin", "from_stdin", is_flag=True, help="Read the new value from stdin."
)


@click.group()
def rotate() -> None:
    """Rotate a secret without downtime (dry run unless --apply)."""


@rotate.command("db-password")
@click.option("--user", help="The database user [default: layer_2's app user].")
@_apply
@_stdin
def db_password(user: str | None, apply: bool, from_stdin: bool) -> ExitCode:
    """A database user's password: second login, consumers rolled, old login retired."""
    from automation.rotate.dbpassword import DbPassword, app_user

    return run_verb(
        "rotate db-password",
        lambda ctx: _run(ctx, DbPassword(user or app_user(ctx)), apply, from_stdin),
    )


@rotate.command("vault-token")
@_apply
def vault_token(apply: bool) -> ExitCode:
    """The platform's Vault token (sprocket:vault_token): new token, stacks rolled, old revoked."""
    from automation.rotate.vault import VaultToken

    return run_verb("rotate vault-token", lambda ctx: _run(ctx, VaultToken(), apply, False))


@rotate.command("oauth")
@click.option("--provider", required=True, help="discord, google or epic.")
@_apply
def oauth(provider: str, apply: bool) -> ExitCode:
    """An OAuth client secret made in the provider's console (read from stdin with --apply)."""
    from automation.rotate.oauth import OAuthSecret

    def verb(ctx: Context) -> Result:
        result = _run(ctx, OAuthSecret(provider), apply, from_stdin=True)
        if apply:
            result.data["next"] = "disable the old client secret in the provider's console"
        return result

    return run_verb("rotate oauth", verb)


COMMANDS = [rotate]
