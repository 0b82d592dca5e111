# Vault server config (rendered by layer_1/vault.py). TLS terminates at Traefik; the listener is
# only reachable on the ingress overlay, never published on a host port.
ui            = true
disable_mlock = true
api_addr      = "${api_addr}"

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

${storage}
