"""goat-sync: the edge outbox to S3 and PostgreSQL (docs/sync.md)."""
