"""Tests on a real Kubernetes control plane (see README.md here)."""
