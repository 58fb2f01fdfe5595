"""atdata_appview: follows the network, verifies and indexes atdata records, and answers queries.

Parts: ``store`` (SQLite or PostgreSQL), ``ingest`` (firehose, backfill, verification, apply),
``commands`` (the ``atdata appview`` subcommands).
"""
