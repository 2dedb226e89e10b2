"""crmctl: command-line CRM maintenance over one SQLite file."""

__version__ = "0.1.0"
