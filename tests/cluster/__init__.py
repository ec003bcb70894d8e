"""A throwaway Kubernetes control plane for tests: see control_plane.py."""
