"""The Python SDK (asyncio and blocking); the CLI and the web API use it."""

from kubetask.client.aio import AsyncClient, parse_endpoints
from kubetask.client.feed import TaskFeed
from kubetask.client.spec import TaskSpec
from kubetask.client.stats import QueueStats
from kubetask.client.sync import Client

__all__ = ["AsyncClient", "Client", "QueueStats", "TaskFeed", "TaskSpec", "parse_endpoints"]
