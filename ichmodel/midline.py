"""Midline shift (filled in below)."""
