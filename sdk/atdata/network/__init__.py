"""Talking to the network: XRPC, identity (handle -> DID -> PDS), records from PDSes, the appview."""
