"""The images step's real software (issue 27): what is built here, cached outside the repo.

- cache.py: one cache entry per recipe, ~/.cache/sprocket-infra/servers/<name>-<version>/<hash>/,
  keyed by the sha256 of the recipe's facts (a changed recipe builds anew; a warm run reuses the
  entry in a second).
- servers.py: the server binaries built with Go here (Gatus from the vendored source, Traefik
  from the Go module proxy), one recipe each, built side by side.

Stand-ins (Debian busybox and a small shell server) are still made by automation/local_images.py
for every image nothing real exists for on this machine.
"""
