"""The project's own processors as config slots (filled in as they land)."""
