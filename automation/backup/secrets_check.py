"""Secret completeness: every secret in the state and config must decrypt.

An old CLI given a wrong passphrase exports every secret as `null` and exits 0
(pulumi/pulumi#23476); a backup made that way loses every secret for good. So before a backup is
stored, the secret envelopes of the ciphertext export are counted and compared with the number of
envelopes that decrypt with the configured passphrase. A secret that decrypts to `null`
(`Output.secret(None)`, a legitimately empty secret) decrypts: it is counted as null, not as a
failure; only an envelope that does not open (wrong key, damaged) fails the check. These
functions only count: they never return or keep a plaintext value.
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


@dataclass(frozen=True)
class Tally:
    """Envelopes that decrypted, and how many of those hold null."""

    opened: int
    null: int = 0


def count_decrypted_secrets(decrypted_text: bytes) -> Tally:
    """Envelopes of a decrypted export (`--show-secrets`), and how many hold null.

    The CLI's decrypted text cannot tell a null secret from pulumi/pulumi#23476 (a wrong
    passphrase exporting every secret as null): when every envelope is null, none counts as
    opened, so the check fails rather than store a backup whose secrets may all be lost.
    """
    envelopes = len(_ENVELOPE.findall(decrypted_text))
    null = len(_NULL_PLAINTEXT.findall(decrypted_text))
    if envelopes and null == envelopes:
        return Tally(0, 0)
    return Tally(envelopes, null)


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
    state_decrypted: int  # envelopes that decrypt, null ones included
    config_secrets: int
    config_decrypted: int
    state_null: int = 0  # of the decrypted envelopes, those holding null

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
        null = f" ({self.state_null} of them to null)" if self.state_null else ""
        return (
            f"{self.state_decrypted} of {self.state_envelopes} state secrets{null} and "
            f"{self.config_decrypted} of {self.config_secrets} config secrets decrypt"
        )


# --- decrypting in process ------------------------------------------------------------------
#
# The CLI's `stack export --show-secrets` re-serializes the whole state to decrypt it: over twice
# the cost of the export itself. The passphrase provider's format is small and versioned
# (pkg/secrets/passphrase/manager.go, sdk/go/common/resource/config/crypt.go): state
# `v1:<salt b64>:v1:<nonce b64>:<sealed "pulumi">`, values `v1:<nonce b64>:<ciphertext b64>`,
# AES-256-GCM under PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 rounds). The driver decrypts
# each envelope with it and counts; anything it does not recognise goes back to the CLI.

KDF_ROUNDS = 1_000_000
_B64 = rb"[A-Za-z0-9+/=]*"
_CIPHERTEXT_ENVELOPE = re.compile(
    rb'"' + SIG_KEY.encode() + rb'"\s*:\s*"' + SECRET_SIG.encode() + rb'"\s*,\s*'
    rb'"ciphertext"\s*:\s*"(v1:' + _B64 + rb":" + _B64 + rb')"'
)


class WrongPassphrase(Exception):
    """The passphrase does not open the salt's sealed check value."""


class UnknownFormat(Exception):
    """Not the v1 passphrase format: let the CLI decrypt."""


class PassphraseCrypter:
    """Pulumi's v1 passphrase crypter, decrypt side only. Holds a key, never a plaintext."""

    def __init__(self, passphrase: str, state: str) -> None:
        import base64
        import hashlib

        version, salt_b64, check = [*state.split(":", 2), "", ""][:3]
        if version != "v1" or not check:
            raise UnknownFormat(f"secrets state version {version!r}")
        salt = base64.b64decode(salt_b64)
        self._key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, KDF_ROUNDS, 32)
        try:
            opened = self.decrypt(check)
        except ValueError:
            opened = b""
        if opened != b"pulumi":
            raise WrongPassphrase("the passphrase does not match this salt")

    def decrypt(self, value: str) -> bytes:
        """Plaintext bytes; ValueError if the value is malformed or does not authenticate."""
        import base64

        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version, nonce_b64, sealed_b64 = [*value.split(":"), "", ""][:3]
        if version != "v1":
            raise ValueError(f"unknown ciphertext version {version!r}")
        try:
            return AESGCM(self._key).decrypt(
                base64.b64decode(nonce_b64), base64.b64decode(sealed_b64), None
            )
        except (InvalidTag, ValueError) as exc:
            raise ValueError("does not decrypt") from exc

    def opens(self, value: str) -> bytes | None:
        """The plaintext's JSON form if `value` decrypts, None if it does not (never kept)."""
        try:
            return self.decrypt(value).strip()
        except ValueError:
            return None


def count_decryptable_secrets(export_text: bytes, crypter: PassphraseCrypter) -> Tally:
    """Envelopes of a ciphertext export that decrypt with `crypter`, and how many hold null.

    Raises UnknownFormat when some envelope is not laid out as expected, so nothing is skipped.
    """
    values = _CIPHERTEXT_ENVELOPE.findall(export_text)
    if len(values) != count_ciphertext_secrets(export_text):
        raise UnknownFormat("some secret envelopes are not v1 ciphertext")
    opened = [crypter.opens(value.decode()) for value in values]
    return Tally(
        sum(1 for plain in opened if plain is not None),
        sum(1 for plain in opened if plain == b"null"),
    )


def count_decryptable_config(config_file: Any, crypter: PassphraseCrypter) -> int:
    """Config keys whose every `secure:` value decrypts."""

    def all_open(value: Any) -> bool:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                return crypter.opens(str(value["secure"])) is not None
            return all(all_open(v) for v in value.values())
        if isinstance(value, list):
            return all(all_open(v) for v in value)
        return True

    config = (config_file or {}).get("config") or {}
    return sum(1 for value in config.values() if _has_secure(value) and all_open(value))
