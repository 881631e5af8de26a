"""`scc-central ingest`: MQTT -> database, batched and acknowledged only after commit; public republishing."""
