"""``Idempotency-Key``: a retried creating request creates nothing twice (PROTOCOL §10.12)."""
