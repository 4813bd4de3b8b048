"""Keys and cryptographic helpers (instance keys now; field encryption and backups later)."""
