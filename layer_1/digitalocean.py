"""The DigitalOcean resources the original made by hand (prod and staging only).

Manager droplet (+ optional workers), the data volume on the manager, a firewall that opens
exactly SSH from admin addresses, 80/443 to everyone and the Swarm ports between the droplets,
the DNS zone and a record per public hostname, and the Spaces buckets. Stateful resources
(volume, buckets, DNS zone, the manager that holds the Swarm) are protected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

import pulumi
import pulumi_digitalocean as do

from sprocket_common.env_config import EnvConfig
from sprocket_common.required_config import SWARM_JOIN_TOKEN

from .settings import Layer1Settings

FILES = Path(__file__).parent / "files"
EVERYWHERE = ["0.0.0.0/0", "::/0"]
# (protocol, port) pairs Swarm needs between nodes: management, gossip, overlay VXLAN.
SWARM_PORTS = (("tcp", "2377"), ("tcp", "7946"), ("udp", "7946"), ("udp", "4789"))
PUBLIC_PORTS = ("80", "443")
# Subdirectories of the data volume that layer_2 and platform bind-mount (spec §12).
DATA_SUBDIRS = ("loki", "rabbitmq", "dgraph", "dgraph_zero", "influx")


@dataclass(frozen=True)
class Buckets:
    state_backups: do.SpacesBucket
    vault: do.SpacesBucket
    assets: do.SpacesBucket
    names: dict[str, str]  # role -> bucket name
    endpoint: str  # https://<region>.digitaloceanspaces.com


@dataclass(frozen=True)
class Cloud:
    manager: do.Droplet
    workers: list[do.Droplet]
    data_mount: str
    buckets: Buckets
    vault_key: do.SpacesKey

    @property
    def droplet_ips(self) -> pulumi.Output[list[str]]:
        return pulumi.Output.all(*[d.ipv4_address for d in [self.manager, *self.workers]])


def data_volume_name(env: EnvConfig) -> str:
    return f"sprocket-{env.env.value}-data"


def data_mount(env: EnvConfig) -> str:
    """DigitalOcean auto-mounts a volume at /mnt/<name with '-' as '_'>."""
    return "/mnt/" + data_volume_name(env).replace("-", "_")


def _user_data(template: str, **values: str) -> str:
    return Template((FILES / template).read_text()).safe_substitute(**values)


def droplets(settings: Layer1Settings, env: EnvConfig) -> tuple[do.Droplet, list[do.Droplet]]:
    prefix = f"sprocket-{env.env.value}"
    tags = ["sprocket", prefix]
    # user_data, image and ssh_keys only matter at creation; a change must not replace the node.
    at_creation = pulumi.ResourceOptions(ignore_changes=["userData", "image", "sshKeys"])
    mount = data_mount(env)
    manager = do.Droplet(
        "manager",
        name=f"{prefix}-manager",
        region=settings.region,
        size=settings.droplet_size,
        image=settings.droplet_image,
        ssh_keys=settings.ssh_keys,
        monitoring=True,
        tags=[*tags, "swarm-manager"],
        user_data=_user_data(
            "cloud-init-manager.yaml",
            data_mount=mount,
            data_dirs=" ".join(f"{mount}/{d}" for d in DATA_SUBDIRS),
        ),
        # The manager holds the Swarm's raft state: replacing it loses the cluster.
        opts=pulumi.ResourceOptions.merge(
            at_creation, pulumi.ResourceOptions(protect=settings.protect(env.env))
        ),
    )
    workers = [
        do.Droplet(
            f"worker-{i}",
            name=f"{prefix}-worker-{i}",
            region=settings.region,
            size=settings.worker_size,
            image=settings.droplet_image,
            ssh_keys=settings.ssh_keys,
            monitoring=True,
            tags=[*tags, "swarm-worker"],
            user_data=worker_user_data(manager) if settings.worker_count else None,
            opts=at_creation,
        )
        for i in range(1, settings.worker_count + 1)
    ]
    return manager, workers


def worker_user_data(manager: do.Droplet) -> pulumi.Output[str]:
    """The worker's cloud-init with the join token (`sprocket:swarm_join_token`) and the
    manager's private address: a secret Output, so the token is never plain in state or preview."""
    token = pulumi.Config("sprocket").require_secret(SWARM_JOIN_TOKEN.name)
    return pulumi.Output.secret(
        pulumi.Output.all(token, manager.ipv4_address_private).apply(
            lambda args: _user_data(
                "cloud-init-worker.yaml", join_token=args[0], manager_address=args[1]
            )
        )
    )


def data_volume(
    settings: Layer1Settings, env: EnvConfig, manager: do.Droplet
) -> tuple[do.Volume, do.VolumeAttachment]:
    volume = do.Volume(
        "data",
        name=data_volume_name(env),
        region=settings.region,
        size=settings.data_volume_gb,
        initial_filesystem_type="ext4",
        description=f"Sprocket {env.env.value} service data (Influx, Loki, RabbitMQ, DGraph)",
        opts=pulumi.ResourceOptions(protect=settings.protect(env.env)),
    )
    attachment = do.VolumeAttachment("data", droplet_id=manager.id.apply(int), volume_id=volume.id)
    return volume, attachment


def firewall_rules(
    admin_cidrs: list[str], droplet_ids: list[pulumi.Input[int]]
) -> list[do.FirewallInboundRuleArgs]:
    rules = [
        do.FirewallInboundRuleArgs(protocol="tcp", port_range="22", source_addresses=admin_cidrs)
    ]
    rules += [
        do.FirewallInboundRuleArgs(protocol="tcp", port_range=port, source_addresses=EVERYWHERE)
        for port in PUBLIC_PORTS
    ]
    rules += [
        do.FirewallInboundRuleArgs(
            protocol=protocol, port_range=port, source_droplet_ids=droplet_ids
        )
        for protocol, port in SWARM_PORTS
    ]
    return rules


def firewall(settings: Layer1Settings, env: EnvConfig, nodes: list[do.Droplet]) -> do.Firewall:
    ids: list[pulumi.Input[int]] = [d.id.apply(int) for d in nodes]
    outbound = [
        do.FirewallOutboundRuleArgs(
            protocol=protocol, port_range="1-65535", destination_addresses=EVERYWHERE
        )
        for protocol in ("tcp", "udp")
    ] + [do.FirewallOutboundRuleArgs(protocol="icmp", destination_addresses=EVERYWHERE)]
    return do.Firewall(
        "swarm",
        name=f"sprocket-{env.env.value}-swarm",
        droplet_ids=ids,
        inbound_rules=firewall_rules(settings.admin_cidrs, ids),
        outbound_rules=outbound,
    )


def record_name(hostname: str, zone: str) -> str:
    """The record name relative to the zone (`@` for the apex)."""
    if hostname == zone:
        return "@"
    suffix = "." + zone
    if not hostname.endswith(suffix):
        raise ValueError(f"hostname {hostname} is outside the DNS zone {zone}")
    return hostname.removesuffix(suffix)


def public_hostnames(settings: Layer1Settings, env: EnvConfig, own: list[str]) -> list[str]:
    """The environment apex, this layer's hostnames, and the later layers' (`dns_services`)."""
    names = [env.base_hostname, *own, *(env.hostname(s) for s in settings.dns_services)]
    return list(dict.fromkeys(names))


def dns(
    settings: Layer1Settings, env: EnvConfig, hostnames: list[str], manager: do.Droplet
) -> tuple[do.Domain | None, list[do.DnsRecord]]:
    """The zone (unless another stack owns it: staging shares prod's) and one A record per host."""
    zone_name = settings.dns_zone or env.base_domain
    zone = (
        do.Domain(
            "zone", name=zone_name, opts=pulumi.ResourceOptions(protect=settings.protect(env.env))
        )
        if settings.manage_dns_zone
        else None
    )
    records = [
        do.DnsRecord(
            f"a-{host}",
            domain=zone.id if zone else zone_name,
            type="A",
            name=record_name(host, zone_name),
            value=manager.ipv4_address,
            ttl=300,
        )
        for host in hostnames
    ]
    return zone, records


def buckets(settings: Layer1Settings, env: EnvConfig) -> Buckets:
    region = settings.effective_spaces_region()
    prefix = settings.prefix(env.env)
    protect = pulumi.ResourceOptions(protect=settings.protect(env.env))
    names = {
        "state_backups": f"{prefix}-state-backups",
        "vault": f"{prefix}-vault",
        "assets": f"{prefix}-assets",
    }
    versioned = do.SpacesBucketVersioningArgs(enabled=True)
    state_backups = do.SpacesBucket(
        "state-backups",
        name=names["state_backups"],
        region=region,
        acl="private",
        versioning=versioned,
        lifecycle_rules=[
            do.SpacesBucketLifecycleRuleArgs(
                id="expire-old-versions",
                enabled=True,
                # The driver's GFS retention deletes current objects; overwritten and deleted
                # versions are kept this long, then expire, so versioning does not grow forever.
                noncurrent_version_expiration=(
                    do.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs(
                        days=settings.backup_noncurrent_days
                    )
                ),
                abort_incomplete_multipart_upload_days=7,
            )
        ],
        opts=protect,
    )
    vault = do.SpacesBucket(
        "vault", name=names["vault"], region=region, acl="private", versioning=versioned,
        opts=protect,
    )  # fmt: skip
    assets = do.SpacesBucket(
        "assets", name=names["assets"], region=region, acl=settings.assets_acl, opts=protect
    )
    endpoint = f"https://{region}.digitaloceanspaces.com"
    return Buckets(state_backups, vault, assets, names, endpoint)


def vault_spaces_key(env: EnvConfig, bucket: do.SpacesBucket) -> do.SpacesKey:
    """A Spaces key that can only read and write the Vault bucket."""
    return do.SpacesKey(
        "vault",
        name=f"sprocket-{env.env.value}-vault",
        grants=[do.SpacesKeyGrantArgs(bucket=bucket.name, permission="readwrite")],
    )


def deploy(settings: Layer1Settings, env: EnvConfig, own_hostnames: list[str]) -> Cloud:
    manager, workers = droplets(settings, env)
    data_volume(settings, env, manager)
    firewall(settings, env, [manager, *workers])
    dns(settings, env, public_hostnames(settings, env, own_hostnames), manager)
    spaces = buckets(settings, env)
    return Cloud(
        manager=manager,
        workers=workers,
        data_mount=data_mount(env),
        buckets=spaces,
        vault_key=vault_spaces_key(env, spaces.vault),
    )
