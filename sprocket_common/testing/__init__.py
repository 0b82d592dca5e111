"""Test-only: the house service spec run through the Docker SDK instead of the docker provider.

- `engine_spec.engine_service_kwargs`: `service_args`'s `pulumi_docker.ServiceArgs` as Docker
  Engine API arguments (`APIClient.create_service`), so a test against a real Swarm runs exactly
  the spec the provider would send;
- `dynamic_service.SwarmServiceResource`: a Pulumi dynamic resource that deploys that spec,
  for the driver's tests that need a real engine and a real Swarm without the provider plugin.

Nothing here has defaults of its own: the spec comes from `sprocket_common.service`.
"""
