from django.http import FileResponse


def file_response(found):
    """The response for a proof's file, (file, download name, content type) as mailpieces.proofs gives it."""
    file, name, content_type = found
    response = FileResponse(file.open("rb"), filename=name, content_type=content_type)
    # A tenant's data behind its credentials: a shared cache never keeps it.
    response["Cache-Control"] = "private, max-age=300"
    return response
