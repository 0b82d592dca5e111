"""Secret completeness: every secret in the state and config must decrypt to a value.

An old CLI given a wrong passphrase exports every secret as `null` and exits 0
(pulumi/pulumi#23476); a backup made that way loses every secret for good. So before a backup is
stored, the secret envelopes of the ciphertext export are counted and compared with the number of
envelopes that decrypt to a non-null value with the configured passphrase. These functions only
count: they never return or keep a plaintext value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Pulumi's marker for a serialized secret: {SIG_KEY: SECRET_SIG, "ciphertext"|"plaintext": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a type tag, not a secret


def _envelopes(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get(SIG_KEY) == SECRET_SIG:
                yield item
                continue  # an envelope's payload is an opaque string
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def count_ciphertext_secrets(export: Any) -> int:
    """Secret envelopes in a ciphertext export (`pulumi stack export`)."""
    return sum(1 for env in _envelopes(export) if "ciphertext" in env)


def count_decrypted_secrets(export: Any) -> int:
    """Envelopes of a decrypted export whose value is present and not JSON `null`."""
    return sum(
        1
        for env in _envelopes(export)
        if env.get("plaintext") not in (None, "null") or env.get("value") is not None
    )


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def count_secure_config_keys(config_file: Any) -> int:
    """Keys of a parsed Pulumi.<stack>.yaml holding a `secure:` value (nested ones included)."""
    config = (config_file or {}).get("config") or {}
    return sum(1 for value in config.values() if _has_secure(value))


def count_decrypted_config(config_json: dict[str, Any]) -> int:
    """Secret keys of `pulumi config --show-secrets --json` that hold a non-null value."""
    return sum(
        1
        for entry in config_json.values()
        if entry.get("secret") and entry.get("value") is not None
    )


@dataclass(frozen=True)
class SecretCount:
    state_envelopes: int
    state_decrypted: int
    config_secrets: int
    config_decrypted: int

    @property
    def complete(self) -> bool:
        return (
            self.state_envelopes == self.state_decrypted
            and self.config_secrets == self.config_decrypted
        )

    @property
    def total(self) -> int:
        return self.state_envelopes + self.config_secrets

    def describe(self) -> str:
        return (
            f"{self.state_decrypted} of {self.state_envelopes} state secrets and "
            f"{self.config_decrypted} of {self.config_secrets} config secrets decrypt to a value"
        )
