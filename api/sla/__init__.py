"""SLA policies and the per-ticket clocks they start."""
