"""helpdesk-api: an async helpdesk ticketing REST API."""

__version__ = "0.1.0"
