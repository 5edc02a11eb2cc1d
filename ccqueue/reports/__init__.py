"""Reports over the records in PostgreSQL: the figures a contact centre is run on.

Definitions: docs/reports.md; the same definitions in SQL: migration 0004.
"""
