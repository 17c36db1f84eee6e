"""How guessable a password the admin gave is, rated with zxcvbn (the estimator Dropbox published): a
warning, never a refusal (the admin may keep it). The message never holds the password."""

from __future__ import annotations

from functools import lru_cache

# zxcvbn's scores: 0 too guessable ... 4 very unguessable; below 3 an offline attack on a captured
# handshake (PSK, MSCHAPv2) or a stolen .p12 would find it quickly.
GOOD_ENOUGH = 3
MAX_RATED = 72


@lru_cache(maxsize=256)
def weakness(password: str) -> str | None:
    """Why ``password`` is weak, in one line (zxcvbn's feedback), or None when it is strong enough."""
    if not password:
        return None
    from zxcvbn import zxcvbn  # loads its word lists: only when a password is rated

    # zxcvbn refuses more than 72 characters (its matching is quadratic in the length): the first 72 rate
    # the rest, and a longer password is strong enough for this purpose anyway.
    rated = zxcvbn(password[:MAX_RATED])
    score = int(rated["score"])
    if score >= GOOD_ENOUGH:
        return None
    feedback = rated.get("feedback") or {}
    why = str(feedback.get("warning") or "").strip() or "It is short or made of common patterns."
    advice = [str(s).strip() for s in feedback.get("suggestions") or [] if str(s).strip()]
    return f"weak password (strength {score} of 4): {why}" + (f" {advice[0]}" if advice else "")
