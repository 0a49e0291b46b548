"""Trust checks on an export: quality gates on the staged data (before anything is committed) and schema
drift against the last committed schema."""
