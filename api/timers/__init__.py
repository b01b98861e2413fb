"""Timers: every scheduled moment of a ticket (auto-close, SLA warnings and breaches, rule timers)."""
