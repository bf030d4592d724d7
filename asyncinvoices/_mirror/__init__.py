"""The database mirror: the sync plan, the sync flow, pure records and diffs, the schema and
one module per database."""
