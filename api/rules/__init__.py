"""Escalation and automation rules: conditions (``api/conditions``) and ordered actions, managed at
``/v1/rules``, previewed (dry run) and explained."""
