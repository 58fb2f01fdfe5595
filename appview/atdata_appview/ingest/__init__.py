"""Ingest: read commits from a firehose or a repo export, verify them, and apply them to the store."""
