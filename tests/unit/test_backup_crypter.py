"""The in-process secret check against values the real pulumi CLI (v3.274.1) encrypted.

Vectors: a stack made with passphrase "pw1"; its salt, one secret stack output and one secure
config value, copied from `pulumi stack export` and Pulumi.<stack>.yaml. Each test derives the
key (1,000,000 PBKDF2 rounds), so there are few.
"""

from __future__ import annotations

import json

import pytest

from automation.backup.secrets_check import (
    SECRET_SIG,
    SIG_KEY,
    PassphraseCrypter,
    Tally,
    UnknownFormat,
    WrongPassphrase,
    count_decryptable_config,
    count_decryptable_secrets,
)

SALT = "v1:JOcbyRh+0mI=:v1:97JTwz5/32++Em3d:1RxWiXUn7qVmzR4i32MNXBisb48JbA=="
OUTPUT = "v1:/xDK8NP8xI4lFbSp:bgCCj0a44zup7IuL/3fmI+MaDLpG92ApQXHtMA=="  # "CANARY-xyz"
CONFIG = "v1:lqhav4vL/GF7jo8R:xbCOpgpJFOXB/GUml3CNE36svD9YkPjVb80="  # CANARY-xyz


@pytest.fixture(scope="module")
def crypter() -> PassphraseCrypter:
    return PassphraseCrypter("pw1", SALT)


def export_text(*ciphertexts: str) -> bytes:
    outputs = {f"s{n}": {SIG_KEY: SECRET_SIG, "ciphertext": c} for n, c in enumerate(ciphertexts)}
    return json.dumps({"deployment": {"resources": [{"outputs": outputs}]}}, indent=4).encode()


def test_cli_encrypted_values_decrypt_with_the_right_passphrase(crypter: PassphraseCrypter) -> None:
    assert crypter.decrypt(OUTPUT) == b'"CANARY-xyz"'
    assert crypter.decrypt(CONFIG) == b"CANARY-xyz"
    assert count_decryptable_secrets(export_text(OUTPUT, OUTPUT), crypter) == Tally(2, 0)
    config = {"config": {"p:canary": {"secure": CONFIG}, "p:image": "app:1"}}
    assert count_decryptable_config(config, crypter) == 1


def test_a_wrong_passphrase_is_refused_at_the_salt() -> None:
    with pytest.raises(WrongPassphrase):
        PassphraseCrypter("not pw1", SALT)


def test_a_tampered_secret_is_not_counted(crypter: PassphraseCrypter) -> None:
    tampered = OUTPUT[:-6] + ("A" if OUTPUT[-6] != "A" else "B") + OUTPUT[-5:]
    assert count_decryptable_secrets(export_text(OUTPUT, tampered), crypter) == Tally(1, 0)
    assert crypter.opens("v1:AAAAAAAAAAAAAAAA:AAAA") is None


def test_a_secret_that_decrypts_to_null_opens_and_is_counted_as_null(
    crypter: PassphraseCrypter,
) -> None:
    """`Output.secret(None)`: a legitimately empty secret, not a wrong passphrase."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(crypter._key).encrypt(nonce, b"null", None)
    null = f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"
    assert count_decryptable_secrets(export_text(OUTPUT, null), crypter) == Tally(2, 1)


def test_unknown_layouts_go_back_to_the_cli(crypter: PassphraseCrypter) -> None:
    with pytest.raises(UnknownFormat):
        PassphraseCrypter("pw1", "v2:whatever:else")
    odd = json.dumps({"x": {"ciphertext": OUTPUT, SIG_KEY: SECRET_SIG}}).encode()  # keys swapped
    with pytest.raises(UnknownFormat):
        count_decryptable_secrets(odd, crypter)
