"""The audit log: one record per mutation (who, from where, what, on what, and how it ended)."""
