"""The dashboard, its JSON HTTP API and /metrics (the only code that imports aiohttp)."""
