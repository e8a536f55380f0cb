"""Query layer: everything that turns a request into matching rows (filters first)."""
