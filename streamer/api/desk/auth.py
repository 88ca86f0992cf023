"""The desk's sign-in: the admin token is exchanged for a signed, expiring session cookie.

The cookie is ``payload.signature``: payload = base64url(JSON ``{"n": nonce, "exp": unix}``),
signature = HMAC-SHA256 under a key derived from the admin token (rotating the token signs
everyone out). The CSRF token of a session is an HMAC of its nonce under another derived key:
tied to the session, never stored, useless for another one. Sign-out revokes the nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "streamer_desk"
LIFETIME_S = 8 * 3600  # one working day at the desk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class DeskAuth:
    """Issues and checks desk sessions. ``clock`` (unix seconds) is injectable for tests."""

    admin_token: str
    lifetime_s: float = LIFETIME_S
    clock: Callable[[], float] = time.time
    revoked: dict[str, float] = field(default_factory=dict)  # nonce -> its expiry

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self.admin_token.encode(), purpose.encode(), hashlib.sha256).digest()

    def token_ok(self, given: str) -> bool:
        """Whether ``given`` is the admin token (constant time; never with no token set)."""
        return bool(self.admin_token) and hmac.compare_digest(
            given.strip().encode(), self.admin_token.encode()
        )

    def issue(self, who: str = "") -> str:
        """A new session cookie value; ``who`` (the name given at sign-in) signs the audit log."""
        payload = json.dumps(
            {
                "n": secrets.token_urlsafe(16),
                "exp": self.clock() + self.lifetime_s,
                "w": " ".join(who.split())[:60],
            }
        )
        body = _b64(payload.encode())
        sig = hmac.new(self._key("desk-cookie"), body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(sig)}"

    def session(self, cookie: str | None) -> str | None:
        """The nonce of a valid, unexpired, unrevoked session cookie; None otherwise."""
        if not cookie or not self.admin_token or cookie.count(".") != 1:
            return None
        body, sig = cookie.split(".")
        want = hmac.new(self._key("desk-cookie"), body.encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(sig), want):
                return None
            data = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        nonce, exp = data.get("n"), data.get("exp")
        if not isinstance(nonce, str) or not isinstance(exp, (int, float)):
            return None
        if exp <= self.clock() or nonce in self.revoked:
            return None
        return nonce

    def who(self, cookie: str | None) -> str:
        """The signed-in identity of a valid session: the name given at sign-in, else a label
        of the session (``desk-`` + the first characters of its nonce); empty when invalid."""
        nonce = self.session(cookie)
        if nonce is None or cookie is None:
            return ""
        name = json.loads(_unb64(cookie.split(".")[0])).get("w")
        return name if isinstance(name, str) and name else f"desk-{nonce[:6]}"

    def csrf(self, nonce: str) -> str:
        """The CSRF token of the session ``nonce``."""
        return _b64(hmac.new(self._key("desk-csrf"), nonce.encode(), hashlib.sha256).digest())

    def csrf_ok(self, nonce: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf(nonce).encode())

    def revoke(self, cookie: str | None) -> None:
        """Sign out: the session's nonce is refused until the cookie would have expired anyway."""
        nonce = self.session(cookie)
        if nonce is None or cookie is None:
            return
        now = self.clock()
        self.revoked = {n: e for n, e in self.revoked.items() if e > now}
        self.revoked[nonce] = json.loads(_unb64(cookie.split(".")[0]))["exp"]
