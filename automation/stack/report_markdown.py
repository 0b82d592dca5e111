"""Preview results as pull-request comments: one per stack, found again by a hidden marker.

Input is the preview command's JSON data (`{"stacks": [{"stack", "changes", "steps", "gate"}]}`).
Each stack's comment starts with `<!-- sprocket-preview:<project>/<stack> -->`, which the CI
workflow (.github/workflows/preview.yml) uses to edit its earlier comment in place; then a summary
table (creates, updates, replaces, deletes, gate verdict), what the gate blocked, and the
per-resource steps, trimmed to stay under GitHub's 65,536-character limit (the full plan is the
workflow's JSON artifact).

Secrets: the preview data holds URNs, types and property *names*, never values. As a second line
of defence every text is also scrubbed of the stack's secret config values and of secret-looking
environment variables before it is written.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automation.context import Context
    from automation.render import Result
    from automation.settings import Settings

GITHUB_COMMENT_LIMIT = 65_536
# Room for GitHub's own counting and for the workflow's wrapper text.
DEFAULT_BUDGET = 60_000
MARKER_PREFIX = "sprocket-preview:"
REDACTED = "[secret]"
# Shorter values are too likely to be ordinary words; redacting them would only garble the text.
MIN_SECRET_LENGTH = 4
# Environment variables whose values must never appear in a comment, whatever the plan says.
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSPHRASE|PRIVATE_KEY|ACCESS_KEY)", re.I)
# Most dangerous first: when the detail is trimmed, deletes and replaces are what survive.
_OP_ORDER = {"delete": 0, "replace": 1, "delete-replaced": 1, "create-replacement": 1, "update": 2}
_SUMMARY_OPS = (("create", "creates"), ("update", "updates"), ("replace", "replaces"))
_MARKER_RE = re.compile(r"<!-- sprocket-preview:([^ ]+) -->")


def marker(project: str, stack: str) -> str:
    return f"<!-- {MARKER_PREFIX}{project}/{stack} -->"


@dataclass(frozen=True)
class Redactor:
    """Replaces every known secret value with [secret]; longest first, so no fragment survives."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        unique = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
        return cls(tuple(sorted(unique, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text

    def __repr__(self) -> str:  # never print the values, not even in a traceback
        return f"Redactor({len(self.values)} values)"


def secret_values_from_config(config: Mapping[str, Any]) -> list[str]:
    """Secret values of the Automation API's config or outputs (ConfigValue / OutputValue:
    .value, .secret), and their leaves. An output's value may be a list or dict: its JSON.

    A structured secret (a JSON object or list) also yields each string inside it.
    """
    values: list[str] = []
    for item in config.values():
        if getattr(item, "secret", False):
            text = item.value if isinstance(item.value, str) else json.dumps(item.value)
            values.append(text)
            values.extend(_json_leaves(text))
    return values


def secret_values_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of secret-looking variables, and the content of the files the secret
    `*_FILE` ones name (PULUMI_CONFIG_PASSPHRASE_FILE: the passphrase itself). The path stays
    visible: an error must be able to name it."""
    environ = os.environ if environ is None else environ
    values: list[str] = []
    for key, value in environ.items():
        if not (_SECRET_ENV.search(key) and value):
            continue
        values.extend(_file_secret(Path(value)) if key.endswith("_FILE") else [value])
    return values


def passphrase_values(settings: Settings) -> list[str]:
    """The driver's own local passphrase (the file it makes under the state dir when no
    PULUMI_CONFIG_PASSPHRASE* is set), for redaction; nothing when there is none yet."""
    from automation.settings import local_passphrase_path

    return _file_secret(local_passphrase_path(settings))


# A passphrase or token file is small; a variable naming something big is not a secret file.
_MAX_SECRET_FILE = 64 * 1024


def _file_secret(path: Path) -> list[str]:
    """A secret file's content as the engine reads it (trimmed) and as written; [] if none."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_SECRET_FILE + 1)
    except OSError:
        return []
    if len(data) > _MAX_SECRET_FILE:
        return []
    text = data.decode(errors="replace")
    return [v for v in {text, text.strip(), text.rstrip("\r\n")} if v]


def _json_leaves(text: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return []
    leaves: list[str] = []
    stack = [parsed]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            leaves.append(item)
    return leaves


# --- rendering -----------------------------------------------------------------------------


def render_preview(
    data: Mapping[str, Any],
    *,
    project: str,
    secrets: Iterable[str] = (),
    budget: int = DEFAULT_BUDGET,
    artifact: str = "preview-json",
) -> str:
    """Every stack's comment, one after another; each begins with its own marker line."""
    redact = Redactor.of([*secrets, *secret_values_from_env()])
    bodies = [
        render_stack(stack, project=project, redact=redact, budget=budget, artifact=artifact)
        for stack in data.get("stacks", [])
    ]
    return "\n".join(bodies)


def render_stack(
    stack: Mapping[str, Any],
    *,
    project: str,
    redact: Redactor,
    budget: int = DEFAULT_BUDGET,
    artifact: str = "preview-json",
) -> str:
    """One stack's comment, never longer than `budget` characters."""
    name = str(stack.get("stack", "unknown"))
    head = [
        marker(project, name),
        f"### Pulumi preview: `{_code(redact(name))}` ({_code(redact(project))})",
        "",
        *_summary_table(stack),
        "",
        *_status_lines(stack, redact),
        *_blocked_lines(stack, redact, budget // 4),
    ]
    steps = _sorted_steps(stack.get("steps") or [])
    footer_full = f"_Full plan: the `{artifact}` artifact of this workflow run._"
    text = "\n".join(head)
    remaining = budget - len(text) - 400  # the details wrapper and the trimming note
    rows, shown = _detail_rows(steps, redact, remaining)
    parts = [text]
    if steps:
        parts += [
            f"<details{' open' if len(steps) <= 20 else ''}>"
            f"<summary>Resource changes ({len(steps)})</summary>",
            "",
            "| op | type | resource | changed inputs |",
            "|---|---|---|---|",
            *rows,
            "",
            "</details>",
            "",
        ]
    if shown < len(steps):
        parts.append(
            f"**{len(steps) - shown} more resource changes not shown** (comment size limit). "
            + footer_full
        )
    else:
        parts.append(footer_full)
    body = "\n".join(parts) + "\n"
    # Last pass over the whole text (the marker line is built from names, and is kept as is).
    first, _, rest = body.partition("\n")
    body = first + "\n" + redact(rest)
    if len(body) > budget:  # only if a secret spanned two fields and grew when redacted
        body = body[: budget - 80] + "\n\n_(truncated at the comment size limit)_\n"
    return body


def _summary_table(stack: Mapping[str, Any]) -> list[str]:
    changes = stack.get("changes") or {}
    counts = [int(changes.get(op, 0)) for op, _ in _SUMMARY_OPS]
    deletes = int(changes.get("delete", 0))
    return [
        "| creates | updates | replaces | deletes | gate |",
        "|---:|---:|---:|---:|---|",
        f"| {counts[0]} | {counts[1]} | {counts[2]} | {deletes} | {_gate_verdict(stack)} |",
    ]


def _status_lines(stack: Mapping[str, Any], redact: Redactor) -> list[str]:
    """A stack whose preview failed (or did not run) says so above everything else."""
    status = stack.get("status")
    if status not in ("failed", "not run"):
        return []
    message = _cell(redact(str(stack.get("message") or "")))[:2000]
    return [f"**Preview {status}**{': ' + message if message else ''}", ""]


def _gate_verdict(stack: Mapping[str, Any]) -> str:
    gate = stack.get("gate")
    if not gate:
        return "not evaluated"
    if gate.get("allowed"):
        return "✅ allowed"
    return f"⛔ blocked ({len(gate.get('blocked') or [])})"


def _blocked_lines(stack: Mapping[str, Any], redact: Redactor, budget: int) -> list[str]:
    blocked = (stack.get("gate") or {}).get("blocked") or []
    if not blocked:
        return []
    lines = ["**Blocked by the preview gate** (allow a change by its URN to proceed):", ""]
    used = sum(len(line) + 1 for line in lines)
    for index, item in enumerate(blocked):
        op, urn = _code(redact(str(item.get("op", "")))), _code(redact(str(item.get("urn", ""))))
        line = f"- `{op}` `{urn}`: {_cell(redact(str(item.get('reason', ''))))}"
        if used + len(line) + 1 > budget:
            lines.append(f"- ... and {len(blocked) - index} more (see the JSON artifact)")
            break
        lines.append(line)
        used += len(line) + 1
    lines.append("")
    return lines


def _sorted_steps(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(steps, key=lambda s: (_OP_ORDER.get(str(s.get("op")), 3), str(s.get("urn"))))


def _detail_rows(
    steps: Sequence[Mapping[str, Any]], redact: Redactor, budget: int
) -> tuple[list[str], int]:
    rows: list[str] = []
    used = 0
    for step in steps:
        row = _step_row(step, redact)
        if used + len(row) + 1 > budget:
            break
        rows.append(row)
        used += len(row) + 1
    return rows, len(rows)


def _step_row(step: Mapping[str, Any], redact: Redactor) -> str:
    urn = str(step.get("urn", ""))
    name = urn.rsplit("::", 1)[-1] if "::" in urn else urn
    diffs = ", ".join(str(d) for d in step.get("diffs") or [])
    cells = [
        f"`{_code(redact(str(step.get('op', ''))))}`",
        f"`{_code(redact(str(step.get('type', ''))))}`",
        f"`{_code(redact(name))}`",
        _cell(redact(diffs)) if diffs else "",
    ]
    return "| " + " | ".join(cells) + " |"


def _code(text: str) -> str:
    """Text for inside a `code span` in a table cell: no backticks, pipes, newlines or markers."""
    return (
        text.replace("`", "'")
        .replace("|", "\\|")
        .replace("\n", " ")
        .replace("<!--", "<!- -")
        .replace("-->", "- ->")
    )[:300]


def _cell(text: str) -> str:
    """Plain text for a table cell or list item: HTML and table syntax neutralised."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\n", " ")
    )[:500]


def split_comments(markdown: str) -> dict[str, str]:
    """The renderer's output back into {"<project>/<stack>": body}: what the workflow does in JS."""
    comments: dict[str, str] = {}
    matches = list(_MARKER_RE.finditer(markdown))
    for match, following in zip(matches, [*matches[1:], None], strict=False):
        end = following.start() if following else len(markdown)
        comments[match.group(1)] = markdown[match.start() : end].rstrip("\n") + "\n"
    return comments


# --- the preview command's --format markdown ---------------------------------------------


def as_markdown(ctx: Context, result: Result) -> Result:
    """The preview Result with its human view replaced by the PR comments (JSON is unchanged)."""
    from dataclasses import replace

    from sprocket_common.stack_info import PROJECT_NAME

    names = [str(s.get("stack")) for s in result.data.get("stacks", [])]
    secrets = stack_secret_values(ctx, names)

    def view(data: dict[str, Any]) -> str:
        return render_preview(data, project=PROJECT_NAME, secrets=secrets)

    return replace(result, human=view)


def stack_secret_values(ctx: Context, stack_names: Iterable[str]) -> list[str]:
    """The decrypted secret config values and secret stack outputs of these stacks (the
    generated passwords and tokens layer_1 and layer_2 export) and the local passphrase, for
    redaction only; never printed.

    A stack that cannot be read (not created yet, no passphrase) adds nothing: the comment is
    then protected by the preview data holding no values, and by the environment scrub.
    """
    from automation.pulumi.workspace import existing_stack
    from sprocket_common.stack_info import StackInfo, UnknownNameError

    values: list[str] = passphrase_values(ctx.settings)
    for name in stack_names:
        try:
            info = StackInfo.parse(name)
            stack = existing_stack(ctx.settings, info, program=_no_program)
            if stack is None:
                continue  # no stack, no config: nothing of its own to redact
            values.extend(secret_values_from_config(stack.get_all_config()))
            values.extend(secret_values_from_config(stack.outputs()))
        except (UnknownNameError, Exception) as exc:  # best effort: the comment still renders
            print(
                f"note: {name}: secret config not read for redaction ({type(exc).__name__})",
                file=sys.stderr,
            )
    return values


def _no_program() -> None:
    """Reading config runs no program."""
