"""Scale-out on procrastinate + PostgreSQL: the App, schema, leases and workers (issue 16)."""
