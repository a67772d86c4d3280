"""Users' secrets and settings: credential encryption, log redaction, per-user settings."""
