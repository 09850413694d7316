"""Peer task-queue benchmarks (Celery, Dramatiq, RQ) on a private redis-server."""
