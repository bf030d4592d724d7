"""The database mirror: the sync plan, the sync flow, pure records and diffs, the schema, the
statements of a sync in both dialects, the interface of a database, and one module per
database."""
