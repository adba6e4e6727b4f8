"""The environment variables huggingface_hub parses and fails on with a bare ValueError: at its import
(``HF_HUB_DOWNLOAD_TIMEOUT``, ``HF_HUB_ETAG_TIMEOUT``: ``int(value)``) or at its first request
(``HF_ENDPOINT``: the URL's port), or sends and fails on with a UnicodeEncodeError (``HF_TOKEN`` holding
a character outside ASCII: a typographic quote pasted with it). A typo in one (``=nan``, ``http://host:9x``
for a mirror) ended a command in a traceback from inside the library, naming no variable.

``check`` runs before a command imports huggingface_hub (directly, or through datasets or
transformers), the token's part only where the command talks to the Hub (a local build sends no token and
is not refused for one); ``blame`` lets ecocompute.cli name the variable of any such ValueError raised
later, for a path that did not check first.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from .cli import EcoError, printable

_WHOLE_SECONDS = ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT")
_ENDPOINT = "HF_ENDPOINT"
_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # the first set is the one huggingface_hub sends


class HubEnvironmentError(EcoError):
    """An environment variable of huggingface_hub holds a value it cannot parse."""


def _shown(name: str, value: str) -> str:
    return f"{name}={printable(value, limit=80)!r}"


def problem() -> str | None:
    """What is wrong with the first malformed variable, how to fix it; None when none is."""
    for name in _WHOLE_SECONDS:
        value = os.environ.get(name)
        if value is None:  # huggingface_hub reads an unset variable as its default (an empty one fails)
            continue
        try:
            int(value)
        except ValueError:
            return (
                f"the environment variable {_shown(name, value)} is not a whole number of seconds "
                f"(huggingface_hub reads it): set it to one, e.g. {name}=30, or unset it"
            )
    value = os.environ.get(_ENDPOINT)
    if value:
        try:
            urlsplit(value).port  # noqa: B018 - parsing the port is the check
        except ValueError as exc:
            return (
                f"the environment variable {_shown(_ENDPOINT, value)} is not a valid URL ({exc}): set it to the "
                f"Hub or a mirror as scheme://host[:port], e.g. {_ENDPOINT}=https://huggingface.co, or unset it"
            )
    return None


def _token_problem() -> str | None:
    """A token huggingface_hub would send (as it cleans it: line breaks and outer blanks dropped) holding a
    character no HTTP header may carry as text: outside printable ASCII. Never shown: it is a secret."""
    name = next((n for n in _TOKENS if os.environ.get(n)), None)
    if name is None:
        return None
    token = os.environ[name].replace("\r", "").replace("\n", "").strip()
    if all(" " <= ch <= "~" for ch in token):
        return None
    return (
        f"the environment variable {name} holds a character no Hugging Face token has (outside printable ASCII: "
        "a typographic quote or a control character pasted with it; not shown, it is a secret): set it to the "
        "token as the Hub shows it (hf_...), or unset it"
    )


def check(*, token: bool = True) -> None:
    """Refuse a malformed variable in one line, before huggingface_hub is imported or asked; the token too
    unless ``token`` is False (a command that sends none: huggingface_hub reads it only for a request)."""
    found = problem() or (_token_problem() if token else None)
    if found is not None:
        raise HubEnvironmentError(found)


def blame(exc: BaseException) -> str | None:
    """The line to show for ``exc`` when it is the ValueError a malformed variable causes (the token's: the
    UnicodeEncodeError of sending it); else None."""
    if not isinstance(exc, ValueError):
        return None
    return problem() or (_token_problem() if isinstance(exc, UnicodeEncodeError) else None)
