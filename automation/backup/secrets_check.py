"""Secret completeness: every secret in the state and config must decrypt to a value.

An old CLI given a wrong passphrase exports every secret as `null` and exits 0
(pulumi/pulumi#23476); a backup made that way loses every secret for good. So before a backup is
stored, the secret envelopes of the ciphertext export are counted and compared with the number of
envelopes that decrypt to a non-null value with the configured passphrase. These functions only
count: they never return or keep a plaintext value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Pulumi's marker for a serialized secret: {SIG_KEY: SECRET_SIG, "ciphertext"|"plaintext": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a type tag, not a secret


# An envelope's signature pair and a decrypted envelope holding null, matched in the CLI's
# JSON text: inside a JSON string every quote is escaped, so these match only real keys.
_ENVELOPE = re.compile(rb'"' + SIG_KEY.encode() + rb'"\s*:\s*"' + SECRET_SIG.encode() + rb'"')
_NULL_PLAINTEXT = re.compile(rb'"plaintext"\s*:\s*(?:"null"|null)(?=\s*[,}])')


def count_ciphertext_secrets(export_text: bytes) -> int:
    """Secret envelopes in a ciphertext export (`pulumi stack export`): all are ciphertext.

    Counted in the text rather than the parsed tree: a 5,000-resource state is 15 MB of JSON,
    and walking it twice costs more than the export.
    """
    return len(_ENVELOPE.findall(export_text))


def count_decrypted_secrets(decrypted_text: bytes) -> int:
    """Envelopes of a decrypted export (`--show-secrets`) whose value is not null."""
    return len(_ENVELOPE.findall(decrypted_text)) - len(_NULL_PLAINTEXT.findall(decrypted_text))


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
