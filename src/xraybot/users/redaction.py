"""Keep secrets out of logs and error messages.

Two rules, both always on: values under a sensitive *key name* are masked, and every
*registered secret value* is masked wherever it appears in text, including inside
exception tracebacks and reprs. Config loading and credential decryption register every
secret they touch, so a secret placed anywhere is masked even under an innocent key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

_SENSITIVE_KEY = re.compile(
    r"pass(word|phrase|wd)?|secret|token|api_?key|master_?key|authori[sz]ation|"
    r"signature|private_?key|credential|cookie|dsn",
    re.IGNORECASE,
)


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key))


class Redactor:
    """Masks registered secret values and values under sensitive keys."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Remember secret values (and their URL-encoded forms) so they are masked everywhere."""
        added = False
        for secret in secrets:
            if not secret:
                continue
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                if form not in self._secrets:
                    self._secrets.add(form)
                    added = True
        if added:
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets

    def redact_text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def redact(self, value: Any) -> Any:
        """Return ``value`` with secrets masked, recursing into mappings and sequences."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            return {
                key: MASK
                if isinstance(key, str) and is_sensitive_key(key) and value[key]
                # An empty value under a sensitive key reveals nothing and helps debugging.
                else self.redact(value[key])
                for key in value
            }
        if isinstance(value, list | tuple):
            return type(value)(self.redact(item) for item in value)
        if isinstance(value, bytes | bytearray):
            return self.redact_text(bytes(value).decode("utf-8", "replace"))
        return value

    # structlog processors ----------------------------------------------------------

    def process_event(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Mask secrets in a structlog event dict, by key and by value."""
        return self.redact(event_dict)  # type: ignore[no-any-return]

    def process_rendered(self, _logger: Any, _method: str, rendered: Any) -> Any:
        """Mask secrets in the final rendered line: catches reprs of arbitrary objects."""
        if isinstance(rendered, str):
            return self.redact_text(rendered)
        if isinstance(rendered, bytes):
            return self.redact_text(rendered.decode("utf-8", "replace")).encode()
        return rendered
