"""The kubetask side of the benchmark: a fresh etcd, a scheduler and workers per measurement."""
