"""The appview's web page: search, schema and lens pages, and a picture of the lens graph."""
