"""Pieces shared by the layers and the driver: stack identity, the house Swarm service component."""
