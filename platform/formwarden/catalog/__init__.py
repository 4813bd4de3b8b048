"""Services over form definitions: publishing versions (and, next, the builder's drafts)."""
