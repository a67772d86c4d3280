"""Start-up: load the configuration, register its secrets, configure logging."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from xraybot.runtime.config import XraybotConfig, load_config, secret_values
from xraybot.runtime.logging import configure_logging
from xraybot.users.redaction import Redactor


@dataclass(frozen=True, slots=True)
class AppContext:
    """What every entry point needs first: the validated config and the shared redactor."""

    config: XraybotConfig
    redactor: Redactor


def bootstrap(
    config_path: Path | None,
    redactor: Redactor | None = None,
    log_stream: TextIO | None = None,
) -> AppContext:
    """Load the config, register its secrets with ``redactor``, and configure logging."""
    redactor = redactor if redactor is not None else Redactor()
    config = load_config(config_path)
    redactor.register(*secret_values(config))
    configure_logging(config.runtime.logging, redactor, log_stream)
    return AppContext(config=config, redactor=redactor)
