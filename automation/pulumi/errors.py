"""The one place that turns what the Pulumi engine says into the driver's exceptions.

Every failed engine call ends here: ``engine_error()`` for the Automation API's exceptions,
``cli_error()`` for plain ``pulumi`` runs (automation/pulumi/cli.py, backup/pulumi_state.py).
Both go through one classifier, ``classify()``, so the same words give the same exit code on
every path (as the Automation API's own ``create_command_error`` does for its exception types),
and both redact every known secret value from what they keep.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automation.errors import (
    BadInput,
    CredentialsError,
    DriverError,
    EngineFailedSilently,
    MissingPlugin,
    NoSuchStack,
    PendingOperations,
    PlanChanged,
    StackLocked,
)
from automation.hints import driver_command
from sprocket_common.stack_info import Env, StackInfo

# Local stacks take the driver's own passphrase file unless the environment names one: say so,
# since a PULUMI_CONFIG_PASSPHRASE left over from a prod shell silently wins.
_LOCAL_SECRETS_ADVICE = (
    "local stacks use the passphrase in the driver's state dir (.sprocket/local-passphrase) "
    "unless PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is set, which overrides "
    "it: unset them, or set them to this stack's passphrase"
)
FULL_OUTPUT_HINT = "set SPROCKET_ENGINE_OUTPUT=1 and run it again for the engine's full output"


_MISSING_CONFIG = re.compile(r"Missing required configuration variable '([^']+)'")
# A layer program refusing a stack config value: sprocket_common.env_config.ConfigError's text,
# at the end of the traceback the engine prints ("<module>.ConfigError: <key>: <message>").
_PROGRAM_CONFIG = re.compile(r"\bConfigError: ([\w.-]+:[\w.-]+|stack): ([^\n]+)")
_MISSING_PLUGIN = re.compile(r"no resource plugin 'pulumi-resource-([\w-]+)' found[^\n]*?(v[\d.]+)")
_MISSING_TARGET = re.compile(r"Target '([^']+)' could not be found")
_LOCKED = re.compile(r"the stack is currently locked by|\[409\] Conflict|conflict: Another update")


def classify(
    text: str, info: StackInfo, *, locked: bool = False, reason: str | None = None
) -> DriverError:
    """The driver's exception for the engine's words ``text`` about stack ``info``; a plain
    DriverError carrying ``reason`` (default: the engine's whole reason) when no rule knows
    them."""
    lowered = text.lower()
    layer = info.layer.value
    if locked or _LOCKED.search(text):
        return StackLocked(
            f"stack {info.name} is locked by another update",
            f"wait for it, or {driver_command(info.env, 'unlock', layer)} if it is stale",
        )
    if "no stack named" in lowered:
        return NoSuchStack(
            f"stack {info.name} does not exist on this backend",
            f"deploy it first ({driver_command(info.env, 'deploy', layer)}), or restore it from "
            f"a backup ({driver_command(info.env, 'restore', layer, '--from', 'ID')})",
        )
    if "passphrase" in lowered and ("incorrect" in lowered or "decrypt" in lowered):
        return CredentialsError(
            f"the passphrase does not decrypt the secrets of {info.name}",
            _LOCAL_SECRETS_ADVICE
            if info.env is Env.LOCAL
            else "set PULUMI_CONFIG_PASSPHRASE (or _FILE) to the stack's passphrase",
        )
    if "violates plan" in text:
        lines = [line.strip() for line in text.splitlines() if "violates plan" in line]
        return PlanChanged(
            f"{info.name}: the program now plans steps the approved preview did not show: "
            f"{lines[0] if lines else 'plan violation'}",
            "nothing outside the approved plan was applied; preview again and re-approve",
        )
    if match := _MISSING_TARGET.search(text):
        return BadInput(
            f"--target {match.group(1)} is not a resource of {info.name}",
            "valid targets are the URNs "
            f"{driver_command(info.env, 'preview', layer, '--json')} lists",
        )
    if match := _MISSING_CONFIG.search(text):  # what automation/stack/config_check.py cannot know
        secret = "--secret " if "--secret" in text else ""
        return BadInput(
            f"missing required configuration: {match.group(1)}",
            f"set it: `pulumi config set {secret}{match.group(1)} --stack {info.name}`, "
            "then run this again",
        )
    if match := _PROGRAM_CONFIG.search(text):
        key, problem = match.groups()
        verb = f"rm {key}" if problem.startswith("unknown key") else f"set {key} VALUE"
        return BadInput(
            f"{info.name}: stack config {key}: {problem.strip()}",
            f"fix it (`pulumi config {verb} --stack {info.name}`), then run this again; "
            "nothing was changed",
        )
    if match := _MISSING_PLUGIN.search(text):
        name, version = match.groups()
        return MissingPlugin(
            f"the {name} provider plugin {version} is not installed",
            "run scripts/install-plugins.sh (it downloads or builds it); "
            "see docs/provider-plugins.md",
        )
    if "pending operation" in lowered or ("interrupted" in lowered and "pending" in text):
        return PendingOperations(
            f"stack {info.name} has pending operations from an interrupted update",
            "run the driver command again: it lists them by kind (creating, updating, "
            "deleting, reading) and names the repair for those kinds (a "
            f"{driver_command(info.env, 'refresh', layer)} clears all but pending creates)",
        )
    return DriverError(engine_reason(text) if reason is None else reason, FULL_OUTPUT_HINT)


def engine_error(exc: BaseException, info: StackInfo, stack: Any = None) -> DriverError:
    """An Automation API exception as the driver's exception, secrets redacted. ``stack`` (the
    Automation API Stack) lets its secret config values be redacted too: a program's own
    exception text reaches the message, and it may quote a decrypted value."""
    from pulumi.automation import errors as auto_errors  # lazy: importing pulumi is slow

    text = str(exc)
    code, stderr = _command_result(exc, text)
    if code is not None and not stderr.strip() and "error:" not in text:
        # Nothing on stderr and no `error:` line on stdout either (a program's exception is
        # reported there): the engine really gave no reason.
        error: DriverError = EngineFailedSilently(
            f"the Pulumi engine exited {code} without giving a reason (its stderr was empty)",
            FULL_OUTPUT_HINT,
        )
    else:
        locked = isinstance(exc, auto_errors.ConcurrentUpdateError)
        reason = cause_first(text) or _last_error_line(text)
        error = classify(text, info, locked=locked, reason=reason)
    return _redacted(error, stack)


def cli_error(stderr: str, what: str, info: StackInfo) -> DriverError:
    """A failed plain `pulumi WHAT` run (its stderr) as the driver's exception."""
    error = classify(stderr, info)
    if type(error) is DriverError:
        error.message = f"`pulumi {what}` failed for {info.name}: {engine_reason(stderr)}"
    return _redacted(error, None)


FORCE_ADVICE = "rerun with --force"  # the CLI's advice when `stack import` refuses a checkpoint
_ITEM = re.compile(r"^(?:error: |\* |\d+\) )")  # `error: 2 errors occurred:` then `1) ...`


def engine_reasons(text: str) -> list[str]:
    """Every `error:` and `* ` item of the engine's words (a multi-error lists several), without
    the CLI's advice to rerun with --force (the driver decides that)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    items = [
        _ITEM.sub("", line) for line in lines if _ITEM.match(line) and FORCE_ADVICE not in line
    ]
    return [item for item in items if not re.fullmatch(r"\d+ errors? occurred:", item)]


def engine_reason(text: str) -> str:
    """The engine's whole reason, not only its last line (``engine_reasons`` joined), else its
    last line, else that it gave none."""
    if cause := cause_first(text):
        return cause
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = "; ".join(dict.fromkeys(engine_reasons(text)))
    return joined or (lines[-1] if lines else "no reason given (empty stderr)")


# What the engine says of every resource it did not get to once another failed: a consequence,
# never a cause (pulumi's step executor cancels the steps still waiting when one fails).
_CASCADE = re.compile(r"expected resource operations for \S+ but none were seen")
_DIAGNOSTIC_BLOCK = re.compile(r"^  (\S+) \(([^)\n]+)\):$")


@dataclass(frozen=True)
class _Diagnostic:
    """One resource's block of the engine's `Diagnostics:` section."""

    type: str
    name: str
    lines: tuple[str, ...]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.lines if line.startswith("error:") or line.startswith("* ")]

    @property
    def cascade_only(self) -> bool:
        return bool(self.errors) and all(_CASCADE.search(line) for line in self.errors)

    def reason(self) -> str:
        """The resource's own words: the `* ` items of a multi-error (the provider's message
        without its source-file prefix), else its error lines, else its last line (a program's
        traceback ends in the exception)."""
        items = [line.removeprefix("* ") for line in self.errors if line.startswith("* ")]
        if not items:
            items = [r for r in engine_reasons("\n".join(self.errors)) if not _CASCADE.search(r)]
        if self.type == "pulumi:pulumi:Stack" and self.lines:
            items = [*items[:1], self.lines[-1]] if items else [self.lines[-1]]
        return "; ".join(dict.fromkeys(items))


def _diagnostics(text: str) -> list[_Diagnostic]:
    """The blocks of the last `Diagnostics:` section of an engine run's console output."""
    start = text.rfind("\nDiagnostics:\n")
    if start < 0:
        return []
    blocks: list[_Diagnostic] = []
    current: tuple[str, str, list[str]] | None = None
    for raw in text[start:].splitlines()[2:]:
        if raw and not raw.startswith(" "):
            break  # `Resources:`, `Outputs:`, `Duration:`: the section ended
        if header := _DIAGNOSTIC_BLOCK.match(raw):
            if current is not None:
                blocks.append(_Diagnostic(current[0], current[1], tuple(current[2])))
            current = (header.group(1), header.group(2), [])
        elif current is not None and raw.strip():
            current[2].append(raw.strip())
    if current is not None:
        blocks.append(_Diagnostic(current[0], current[1], tuple(current[2])))
    return blocks


def cause_first(text: str) -> str | None:
    """When one resource's failure made the engine give up on others, the failing resources'
    own errors, first failed first, and a count of the others: `ingress-network
    (docker:index:Network): Unable to create network: ... already exists; 16 other resources
    failed only because of it`. None when the run shows no such cascade (the engine's words
    then say it as they are)."""
    blocks = [b for b in _diagnostics(text) if b.errors]
    cascade = [b for b in blocks if b.cascade_only]
    causes = [b for b in blocks if not b.cascade_only]
    if not cascade or not causes:
        return None

    def first_seen(block: _Diagnostic) -> int:
        # The progress lines above the section are in the order things happened.
        at = text.find(f" {block.type} {block.name} ")
        return at if at >= 0 else len(text)

    causes.sort(key=first_seen)
    said = "; ".join(f"{b.name} ({b.type}): {b.reason()}" for b in causes)
    them = "it" if len(causes) == 1 else "them"
    return f"{said}; {len(cascade)} other resources failed only because of {them}"


def _last_error_line(text: str) -> str:
    """An Automation API error holds the whole console output: its last `error:` line says it."""
    for line in reversed(text.splitlines()):
        if "error:" in line:
            return line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "the Pulumi engine failed"


_COMMAND_RESULT = re.compile(r"\A\n code: (-?\d+)\n stdout: .*\n stderr: (.*)\Z", re.DOTALL)


def _command_result(exc: BaseException, text: str) -> tuple[str | None, str]:
    """(exit code, stderr) of a failed CLI run: pulumi.automation's CommandError text is
    `\\n code: N\\n stdout: ...\\n stderr: ...`; (None, "") for anything else."""
    from pulumi.automation import errors as auto_errors

    match = _COMMAND_RESULT.match(text)
    if not isinstance(exc, auto_errors.CommandError) or match is None:
        return None, ""
    return match.group(1), match.group(2)


def _redacted(error: DriverError, stack: Any) -> DriverError:
    redact = _redactor(stack)
    error.message, error.hint = redact(error.message), redact(error.hint)
    return error


def _redactor(stack: Any) -> Callable[[str], str]:
    from automation.stack.report_markdown import (
        Redactor,
        secret_values_from_config,
        secret_values_from_env,
    )

    values = list(secret_values_from_env())
    if stack is not None:
        with contextlib.suppress(Exception):  # best effort: the error must still be reported
            values += secret_values_from_config(stack.get_all_config())
    return Redactor.of(values)
