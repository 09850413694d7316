"""What handlers find in the application: typed keys for the shared objects of one server."""

from __future__ import annotations

from aiohttp import web

from kubetask.client import AsyncClient
from kubetask.metrics import ApiMetrics, CollectorRegistry, QueueCollector
from kubetask.web.events import EventHub
from kubetask.web.settings import DashboardSettings

SETTINGS = web.AppKey("settings", DashboardSettings)
CLIENT = web.AppKey("client", AsyncClient)
HUB = web.AppKey("hub", EventHub)
REGISTRY = web.AppKey("registry", CollectorRegistry)
API_METRICS = web.AppKey("api_metrics", ApiMetrics)
QUEUE_COLLECTOR = web.AppKey("queue_collector", QueueCollector)
