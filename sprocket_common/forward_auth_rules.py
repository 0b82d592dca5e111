"""The forward-auth rules: declared once, in layer_1's forward-auth config file.

layer_1 declares one Traefik middleware per rule key (and exports them as
`forward_auth_middlewares`); the platform catalog names rule keys on its routes, and is checked
against the same file when it is loaded, so a typo never renders a middleware nobody declared
(Traefik would drop that router: a dead route).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sprocket_common.stack_info import program_root

RULES_PATH = Path("layer_1") / "files" / "discord-forward-auth.yaml"  # below the program root


def rules_file() -> Path:
    """layer_1's forward-auth config file, in the checkout whose programs run."""
    return program_root() / RULES_PATH


def rule_keys(config_text: str | None = None) -> list[str]:
    """The rule keys of the config (the rendered text, or the declared file)."""
    text = rules_file().read_text() if config_text is None else config_text
    return list(yaml.safe_load(text)["rules"])


def middleware_name(rule: str) -> str:
    """`SprocketAdmin` -> `fa-sprocket-admin` (Traefik's name; `@docker` is its provider)."""
    return "fa-" + re.sub(r"(?<!^)(?=[A-Z])", "-", rule).lower()
