"""The dashboard, its JSON HTTP API and Prometheus metrics (the only code that imports aiohttp)."""
