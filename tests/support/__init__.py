"""Test and benchmark machinery (never imported by the product packages)."""
