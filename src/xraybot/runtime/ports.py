"""The ports runtime wiring consumes; ``storage`` satisfies them structurally."""

from __future__ import annotations

import builtins
from typing import Protocol

from xraybot.model.users import StoredCredentials, UserProfile


class UserRepository(Protocol):
    """Users and their encrypted exchange credentials."""

    async def add(self, profile: UserProfile) -> None:
        """Add a new user; raise InvalidInputError naming the id if it is taken."""
        ...

    async def get(self, user_id: str) -> UserProfile | None:
        """Return the user with this id, or None."""
        ...

    async def list(self, active_only: bool = False) -> builtins.list[UserProfile]:
        """Return all users (or only active ones), ordered by id."""
        ...

    async def update(self, profile: UserProfile) -> None:
        """Replace a stored user's profile; raise InvalidInputError if the id is unknown."""
        ...

    async def set_credentials(self, creds: StoredCredentials) -> None:
        """Store a user's encrypted keys for one exchange, replacing earlier ones.

        Raise InvalidInputError if the user does not exist.
        """
        ...

    async def get_credentials(self, user_id: str, exchange: str) -> StoredCredentials | None:
        """Return the user's stored (encrypted) keys for ``exchange``, or None."""
        ...


__all__ = ["UserRepository"]
