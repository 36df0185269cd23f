"""Claude vision for tag suggestions: the session's photos (already downscaled JPEGs) go base64 to the Messages
API with one tool, the TagSet, which the model is forced to call (`tool_choice`); its input is checked and
clamped by `tag_set.check_answer`. The IO rim of `services/tagging.suggest`.

The anthropic client is built lazily (cold starts of routes that never suggest do not import it) and once per
configuration. Deployed, the key is an SSM SecureString (`MEDFLOW_ANTHROPIC_KEY_PARAM`) read at the first
suggestion of a container and kept; a parameter that cannot be read is 503 `ai_unavailable`, asked again after
`KEY_RETRY_SECONDS`. One attempt within `MEDFLOW_AI_TIMEOUT_SECONDS` (no retries: a retry after a slow answer
would outlive the API function); the caller sees `AiFailed` (502) and may ask again.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.errors import Unavailable, Upstream
from chalicelib.services.tag_set import SCALES, AnswerRejected, Checked, check_answer, tool_schema
from chalicelib.settings import Settings, SettingsError, read_secure_parameter

TOOL_NAME = "record_tag_set"
MAX_TOKENS = 1024  # the tool input is a few dozen tokens; this bounds a model that rambles
SYSTEM_PROMPT = (
    "You assist an orthodontist who reviews a patient's remote check-in photos taken during clear-aligner "
    "treatment (front, left, right, upper arch, lower arch). Rate what the photos show, using only the "
    "record_tag_set tool. Scores: overall_tracking {tracking}; oral_hygiene {hygiene}. Add every detail tag "
    "whose finding is visible; add PHOTO_QUALITY_POOR when the photos do not allow a judgement. The doctor "
    "reviews and may change every value."
)


_TOOL = {"name": TOOL_NAME, "description": "Record the tag set of this scan session.", "input_schema": tool_schema()}


class AiUnavailable(Unavailable):
    """AI suggestions are not configured here (no API key)."""

    code = "ai_unavailable"


class AiFailed(Upstream):
    """The model did not give a usable answer in time (timeout, API error, wrong shape); nothing was stored."""

    code = "ai_failed"


@dataclass(frozen=True)
class Photo:
    label: str  # the image type: FRONT, LEFT, ...
    jpeg: bytes


@dataclass(frozen=True)
class Suggestion:
    checked: Checked
    model: str  # the model that answered (as the API reports it)
    latency_ms: int
    input_tokens: int
    output_tokens: int
    request_id: str | None


KEY_RETRY_SECONDS = 60  # a parameter that could not be read is asked for again after this long

_lock = threading.Lock()
_clients: dict[tuple[str, str, float], Any] = {}
_parameter_keys: dict[str, str] = {}  # SSM parameter name -> the key it holds (read once per container)
_parameter_failures: dict[str, tuple[float, str]] = {}  # name -> (when, why), for KEY_RETRY_SECONDS


def _api_key(settings: Settings) -> str:
    """The Claude API key: the setting's, else the SSM parameter's (read once); AiUnavailable without one."""
    if settings.anthropic_api_key is not None and settings.anthropic_api_key.get_secret_value().strip():
        return settings.anthropic_api_key.get_secret_value().strip()
    name = settings.anthropic_api_key_param
    if not name:
        raise AiUnavailable(
            "AI suggestions are not configured: the API has no ANTHROPIC_API_KEY; tag the session by hand"
        )
    with _lock:
        if name in _parameter_keys:
            return _parameter_keys[name]
        failed = _parameter_failures.get(name)
        if failed is not None and time.monotonic() - failed[0] < KEY_RETRY_SECONDS:
            raise AiUnavailable(failed[1])
        try:
            value = read_secure_parameter(name, aws.client("ssm", settings), variable="MEDFLOW_ANTHROPIC_KEY_PARAM")
        except SettingsError as exc:  # names the parameter, never a value
            why = f"AI suggestions are not available: {str(exc).removeprefix('invalid cloud settings: ')}"
            _parameter_failures[name] = (time.monotonic(), why)
            raise AiUnavailable(why) from None
        if not value.strip():
            why = f"AI suggestions are not available: the SSM parameter {name!r} is empty"
            _parameter_failures[name] = (time.monotonic(), why)
            raise AiUnavailable(why)
        _parameter_failures.pop(name, None)
        _parameter_keys[name] = value.strip()
        return _parameter_keys[name]


def _client(settings: Settings) -> Any:
    key = (_api_key(settings), settings.anthropic_base_url, settings.ai_timeout_seconds)
    with _lock:
        if key not in _clients:
            import anthropic

            _clients[key] = anthropic.Anthropic(api_key=key[0], base_url=key[1], timeout=key[2], max_retries=0)
        return _clients[key]


def ensure_configured(settings: Settings) -> None:
    """Raises AiUnavailable (503) before any work when no key is configured."""
    _client(settings)


def _prompt() -> str:
    def described(name: str) -> str:
        scale = SCALES[name]
        return "; ".join(f"{scale.low + i} = {text}" for i, text in enumerate(scale.meanings))

    return SYSTEM_PROMPT.format(tracking=described("overall_tracking"), hygiene=described("oral_hygiene"))


def _content(photos: list[Photo]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for photo in photos:
        blocks.append({"type": "text", "text": f"{photo.label} photo:"})
        data = base64.standard_b64encode(photo.jpeg).decode("ascii")
        blocks.append({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}})
    blocks.append({"type": "text", "text": "Record the tag set for these photos."})
    return blocks


def suggest(settings: Settings, photos: list[Photo]) -> Suggestion:
    """One Messages API call forced into the TagSet tool. Raises AiUnavailable (no key) or AiFailed."""
    import anthropic

    client = _client(settings)
    started = time.perf_counter()
    try:
        message = client.messages.create(
            model=settings.ai_model,
            max_tokens=MAX_TOKENS,
            system=_prompt(),
            messages=[{"role": "user", "content": _content(photos)}],
            tools=[_TOOL],
            tool_choice={"type": "tool", "name": TOOL_NAME},
        )
    except anthropic.APITimeoutError:
        raise AiFailed(
            f"the AI service did not answer within {settings.ai_timeout_seconds:g} s; try again or tag by hand"
        ) from None
    except anthropic.APIConnectionError as exc:
        raise AiFailed(f"the AI service cannot be reached ({type(exc).__name__})") from None
    except anthropic.APIStatusError as exc:
        raise AiFailed(f"the AI service answered HTTP {exc.status_code}; nothing was stored") from None
    except anthropic.APIError as exc:  # e.g. a response that is not a Message at all
        raise AiFailed(f"the AI service's answer cannot be read ({type(exc).__name__})") from None
    latency_ms = round((time.perf_counter() - started) * 1000)
    tool_input = _tool_input(message)
    try:
        checked = check_answer(tool_input)
    except AnswerRejected as exc:
        raise AiFailed(f"the AI answer is not a tag set: {exc}") from None
    usage = getattr(message, "usage", None)
    return Suggestion(
        checked=checked,
        model=str(getattr(message, "model", None) or settings.ai_model),
        latency_ms=latency_ms,
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        request_id=getattr(message, "_request_id", None),
    )


def _tool_input(message: Any) -> Any:
    for block in getattr(message, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == TOOL_NAME:
            return getattr(block, "input", None)
    raise AiFailed("the AI answer holds no record_tag_set tool call; nothing was stored")
