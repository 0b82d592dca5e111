"""Environment config: hostnames per env, the ACME resolver, and errors that name the key."""

from __future__ import annotations

import pytest

from sprocket_common.env_config import ConfigError, EnvConfig
from sprocket_common.stack_info import Env


def test_hostnames_never_collide_between_environments() -> None:
    prod = EnvConfig(env=Env.PROD, base_domain="sprocket.example.gg")
    staging = EnvConfig(env=Env.STAGING, base_domain="sprocket.example.gg")
    assert prod.hostname("vault") == "vault.sprocket.example.gg"
    assert staging.hostname("vault") == "vault.staging.sprocket.example.gg"
    assert staging.base_hostname == "staging.sprocket.example.gg"
    assert EnvConfig(env=Env.LOCAL).hostname("traefik") == "traefik.local.localhost"


def test_resolver_follows_acme_staging() -> None:
    assert EnvConfig(env=Env.PROD, base_domain="a.gg").tls_resolver == "letsencrypt"
    staged = EnvConfig(env=Env.PROD, base_domain="a.gg", acme_staging=True)
    assert staged.tls_resolver == "letsencrypt-staging"
    assert EnvConfig(env=Env.LOCAL).tls_resolver == ""


def test_config_error_names_the_key() -> None:
    err = ConfigError("sprocket:base_domain", "required in prod")
    assert str(err) == "sprocket:base_domain: required in prod"
    assert err.key == "sprocket:base_domain"


@pytest.mark.parametrize("domain", ["Sprocket.GG", "bad_domain.gg", "http://x.gg", "x..gg"])
def test_bad_domains_are_refused(domain: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        EnvConfig(env=Env.PROD, base_domain=domain)
