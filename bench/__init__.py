"""Benchmark suite comparing kubetask with peer task queues (issue 5)."""
