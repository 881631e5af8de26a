"""SCC's REST API (blueprint in central.api.v1): read-only JSON with an OpenAPI 3.1 description."""
