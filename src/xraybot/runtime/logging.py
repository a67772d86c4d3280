"""Structured logging (structlog), console or JSON, with secrets masked on every path.

Our own loggers and the standard library's (uvicorn, SQLAlchemy, ccxt) go through the
same processors: the redactor masks sensitive keys and registered secret values in the
event, and once more in the final rendered line, which also covers exception tracebacks
and the reprs of arbitrary objects.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

from xraybot.runtime.config import LoggingConfig
from xraybot.users.redaction import Redactor


def configure_logging(
    config: LoggingConfig, redactor: Redactor, stream: TextIO | None = None
) -> None:
    """Install the process-wide logging pipeline; call once at start-up."""
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if config.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final: list[Processor] = [redactor.process_event, renderer, redactor.process_rendered]

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[config.level]
        ),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    # Alembic narrates every connection at INFO; the commands report what changed.
    logging.getLogger("alembic").setLevel(
        logging.DEBUG if config.level == "DEBUG" else logging.WARNING
    )
