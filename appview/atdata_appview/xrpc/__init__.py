"""The appview's XRPC interface: ``GET /xrpc/<nsid>`` for the queries declared in ``lexicons/``."""
