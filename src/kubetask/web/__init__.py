"""Web: dashboard, JSON HTTP API, Prometheus metrics."""
