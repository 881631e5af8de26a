"""Central's storage: SQLAlchemy models (models), engines and sessions (db), migrations (migrate), queries."""
