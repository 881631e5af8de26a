"""SCC central: ingest (its own process), storage, the web app and API, alerts and reports."""
