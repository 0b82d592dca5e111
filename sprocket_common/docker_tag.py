"""Docker's image tag grammar, for the platform catalog, its stack config and the rollout.

Source: the Docker CLI reference (`docker image tag`): "A tag name may contain lowercase and
uppercase letters, digits, underscores, periods and hyphens. A tag name may not start with a
period or a hyphen and may contain a maximum of 128 characters."
"""

from __future__ import annotations

import re

TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
