"""Records service: create/update/delete/search through the gate."""
