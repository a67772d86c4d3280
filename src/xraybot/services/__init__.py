"""One command layer: what the CLI, the REST API and Telegram ask of the running system."""
