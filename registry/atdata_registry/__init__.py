"""atdata_registry: sessions, publishing records, and the local dev stack (official PDS + PLC).

Typical use from Python::

    from atdata_registry import Publisher, login
    publisher = Publisher(login("alice.bsky.social", app_password))
    publisher.publish_schema(BathApplicationFrame)
"""

from atdata_registry.publish import Published, Publisher, VersionConflictError
from atdata_registry.session import Session, current_session, login, logout

__all__ = [
    "Published",
    "Publisher",
    "Session",
    "VersionConflictError",
    "current_session",
    "login",
    "logout",
]
