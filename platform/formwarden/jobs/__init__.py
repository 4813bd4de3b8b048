"""RQ wiring (JSON serializer, named queues) and thin job entry points that take ids."""
