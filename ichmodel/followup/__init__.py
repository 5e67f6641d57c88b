"""Follow-up comparison (filled in below)."""
