"""CLI command groups; each module registers its sub-commands with ``monitor.cli``."""
