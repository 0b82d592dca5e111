"""The stack config keys a layer cannot do without: the one list, read by the layers and the driver.

A layer asks `required_in(KEY, env)` before it reads a key (`require_secret` or `get_secret`;
an error naming the key, or a default); the driver reads the same declarations to list every key
a stack is missing before the engine runs (automation/stack/config_check.py), with the
`pulumi config set` command for each. A key made required here is required in both at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sprocket_common.env_defaults import ENV_DEFAULTS
from sprocket_common.stack_info import Env

CLOUD = frozenset(env for env, defaults in ENV_DEFAULTS.items() if defaults.cloud)


@dataclass(frozen=True)
class RequiredKey:
    key: str  # full config key, `namespace:name`
    meaning: str
    envs: frozenset[Env] = CLOUD  # where it must be set
    secret: bool = False  # set with `pulumi config set --secret`, read with require_secret
    is_list: bool = False  # set item by item: `pulumi config set --path 'key[0]' VALUE`
    when_set: str = ""  # required only when this other key is set (a plain one)

    @property
    def name(self) -> str:
        """The key without its namespace, as `pulumi.Config(namespace)` reads it."""
        return self.key.partition(":")[2]

    def applies(self, env: Env, present: Collection[str]) -> bool:
        return env in self.envs and (not self.when_set or self.when_set in present)

    def set_command(self, stack: str) -> str:
        """The plain CLI's command; a secret's value is asked for, never put on the line."""
        if self.secret:
            return f"pulumi config set --secret {self.key} --stack {stack}"
        if self.is_list:
            return f"pulumi config set --path '{self.key}[0]' VALUE --stack {stack}"
        return f"pulumi config set {self.key} VALUE --stack {stack}"


BASE_DOMAIN = RequiredKey("sprocket:base_domain", "the public domain, e.g. sprocket.mlesports.gg")
SSH_KEYS = RequiredKey(
    "sprocket:ssh_keys", "SSH key fingerprints of the DigitalOcean account", is_list=True
)
ADMIN_CIDRS = RequiredKey("sprocket:admin_cidrs", "addresses allowed to SSH in", is_list=True)
DISCORD_CLIENT_ID = RequiredKey("sprocket:discord_client_id", "forward auth's Discord app id")
DISCORD_GUILD_ID = RequiredKey(
    "sprocket:discord_guild_id", "the Discord server forward auth checks"
)
DISCORD_CLIENT_SECRET = RequiredKey(
    "sprocket:discord_client_secret", "forward auth's Discord OAuth client secret", secret=True
)
DOCKER_ACCESS_TOKEN = RequiredKey(
    "sprocket:docker_access_token",
    "Docker Hub access token for the private images",
    envs=frozenset(Env),
    secret=True,
    when_set="sprocket:docker_username",
)
SWARM_JOIN_TOKEN = RequiredKey(
    "sprocket:swarm_join_token",
    "the Swarm's worker join token (`docker swarm join-token -q worker` on the manager), "
    "for the worker droplets' first boot",
    secret=True,
    when_set="sprocket:worker_count",
)

BY_LAYER: Mapping[str, tuple[RequiredKey, ...]] = {
    "layer_1": (
        BASE_DOMAIN,
        SSH_KEYS,
        ADMIN_CIDRS,
        DISCORD_CLIENT_ID,
        DISCORD_GUILD_ID,
        DISCORD_CLIENT_SECRET,
        DOCKER_ACCESS_TOKEN,
        SWARM_JOIN_TOKEN,
    ),
    "layer_2": (BASE_DOMAIN,),
    "platform": (DOCKER_ACCESS_TOKEN,),
}


def required_in(required: RequiredKey, env: Env) -> bool:
    """Whether the program must refuse to run without `required` in `env` (conditions aside:
    the program checks `when_set` with the value it has)."""
    return env in required.envs


def missing_keys(layer: str, env: Env, present: Collection[str]) -> list[RequiredKey]:
    """The layer's required keys that `present` (the stack's config keys) lacks, in order."""
    return [r for r in BY_LAYER[layer] if r.applies(env, present) and r.key not in present]
