"""Recording playback for whoever holds a signed link (the agent screen is a dashboard page: dashboard/views/agent.py)."""

import mimetypes

from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from .recordings import recording_storage, session_for_token


@require_GET
def recording_file(request, token):
    """Plays a recording for whoever holds a fresh signed link (handed out only to authorised people)."""
    session = session_for_token(token)
    if session is None:
        raise Http404
    try:
        audio = recording_storage().open(session.recording, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(audio, content_type=mimetypes.guess_type(session.recording)[0] or "audio/mpeg")
    response["Cache-Control"] = "private, no-store"
    return response
