"""Generated credentials: 64 alphanumeric characters (spec §1.2), stored as Pulumi secrets."""

from __future__ import annotations

import pulumi
import pulumi_random as random


def password(name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """A new random password; `result` is a secret output, so it never shows in plain text.

    No special characters: the values go into URLs, config lines and DSNs unescaped.
    """
    generated = random.RandomPassword(
        name,
        length=64,
        special=False,
        numeric=True,
        upper=True,
        lower=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(generated.result)
