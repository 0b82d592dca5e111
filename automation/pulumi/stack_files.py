"""Where the pulumi CLI runs for a stack, and so where its stack settings file lives.

- staging and prod: the checkout. Their `Pulumi.<stack>.yaml` (encryption salt included) is
  shared by the team through git, with the passphrase the team shares.
- local: `<state_dir>/project`, this machine's copy. The local passphrase is made per machine
  (settings.passphrase_env), so the `encryptionsalt` the engine writes for it, and values set
  on this machine (secrets, rollout's image tags), belong to this machine: they never land in
  the tracked `Pulumi.local-*.yaml`, and `make deploy` leaves the git tree clean. The tracked
  file seeds the copy and stays authoritative for what it changes: every run merges the keys
  that changed in it since the last run into the copy (a three-way merge against the seed it
  last saw), and leaves the keys set on this machine alone.

The plain CLI in the checkout (`pulumi preview -s local-layer_1`) keeps using the tracked file,
as Pulumi does; it writes its own salt there (the README says so).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from automation.errors import BadInput, DriverError
from automation.settings import Settings
from sprocket_common.stack_info import Env, StackInfo

SEED_SUFFIX = ".seed"  # the tracked file as of the last merge, beside the copy


def local_stack_dir(settings: Settings) -> Path:
    """This machine's folder of the local stacks' settings files (see the module doc)."""
    return settings.state_dir / "project"


def stack_dir(settings: Settings, info: StackInfo) -> Path:
    """The CLI's working directory for `info`; the local copy is brought up to date first."""
    if info.env is not Env.LOCAL:
        return settings.project_dir
    target = local_stack_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    _copy_if_changed(settings.project_dir / "Pulumi.yaml", target / "Pulumi.yaml")
    _merge_tracked(settings.project_dir / f"Pulumi.{info.name}.yaml", target)
    return target


def stack_file(settings: Settings, info: StackInfo) -> Path:
    """`Pulumi.<stack>.yaml` as the CLI reads and writes it."""
    return stack_dir(settings, info) / f"Pulumi.{info.name}.yaml"


def configured_keys(settings: Settings, info: StackInfo) -> frozenset[str]:
    """The config keys the stack's settings file gives a value (the values stay unread: a
    secret is only its ciphertext). An empty value or a `REPLACE_WITH_...` placeholder of the
    committed templates counts as unset."""
    config = _load(stack_file(settings, info)).get("config") or {}
    return frozenset(key for key, value in config.items() if _is_set(value))


def off_keys(settings: Settings, info: StackInfo) -> frozenset[str]:
    """The config keys set to a zero count or false (`sprocket:worker_count: 0`): set, but they
    turn nothing on, so the keys required only `when_set` by them are not required."""
    config = _load(stack_file(settings, info)).get("config") or {}
    return frozenset(k for k, v in config.items() if str(v).strip().lower() in ("0", "false"))


def _is_set(value: Any) -> bool:
    if isinstance(value, list):
        return any(_is_set(item) for item in value)
    return value not in (None, "", {}) and not str(value).startswith("REPLACE_WITH_")


def _copy_if_changed(source: Path, target: Path) -> None:
    if source.is_file() and (not target.is_file() or source.read_bytes() != target.read_bytes()):
        shutil.copyfile(source, target)


def _load(path: Path) -> dict[str, Any]:
    """A stack file as data; a damaged one is named (with where YAML stopped), never replaced.

    Raises BadInput (exit 64): the file is the operator's input, and nothing was written.
    """
    if not path.is_file():
        return {}
    # Not "remove the file": a local copy holds the values set on this machine (its secrets too).
    hint = f"fix {path.name} by hand (its values are kept: nothing was written)"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not valid YAML{_where(exc)}", hint) from None
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise BadInput(
            f"{path} is not a stack settings file (expected a mapping with a `config` mapping)",
            hint,
        )
    return data


def _where(exc: Exception) -> str:
    """`: line L, column C: <problem>` from PyYAML's mark (1-based, as editors count)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    if mark is None:
        return f" ({problem})"
    return f": line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _merge_tracked(tracked_path: Path, target: Path) -> None:
    copy_path = target / tracked_path.name
    seed_path = target / (tracked_path.name + SEED_SUFFIX)
    tracked, seed, copy = _load(tracked_path), _load(seed_path), _load(copy_path)
    if not copy.get("config"):
        seed = {}  # no copy yet, or an emptied one: seed it with all of the tracked config
    merged = dict(copy)
    config = dict(copy.get("config") or {})
    new, old = tracked.get("config") or {}, seed.get("config") or {}
    for key in set(new) | set(old):
        if new.get(key) != old.get(key):  # changed in the tracked file since the last merge
            if key in new:
                config[key] = new[key]
            else:
                config.pop(key, None)
    merged["config"] = config
    _take_tracked_salt(tracked, merged, tracked_path, copy_path)
    if merged != copy or not copy_path.is_file():
        _write(copy_path, merged)
    if tracked != seed or not seed_path.is_file():
        _write(seed_path, tracked)


def _take_tracked_salt(
    tracked: dict[str, Any], merged: dict[str, Any], tracked_path: Path, copy_path: Path
) -> None:
    """A salt in the tracked file was put there on purpose (the plain CLI's `config set
    --secret` in the checkout): its secure values need it, so the copy takes it, unless values
    set on this machine are encrypted under another salt."""
    salt = tracked.get("encryptionsalt")
    if not salt or salt == merged.get("encryptionsalt"):
        return
    tracked_config = tracked.get("config") or {}
    own = sorted(
        key
        for key, value in merged["config"].items()
        if isinstance(value, dict) and "secure" in value and tracked_config.get(key) != value
    )
    if own and merged.get("encryptionsalt"):
        raise DriverError(
            f"{tracked_path} and {copy_path} encrypt secrets with different salts "
            f"(set on this machine: {', '.join(own)})",
            f"move those values into one file with `pulumi config set --secret`, or remove "
            f"`encryptionsalt` from {tracked_path.name} if it is another machine's",
        )
    merged["encryptionsalt"] = salt


def _write(path: Path, data: dict[str, Any]) -> None:
    from automation.guard.records import write_atomic

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    write_atomic(path, text, mode=0o644)
