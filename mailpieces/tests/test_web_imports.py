import os
import subprocess
import sys

from django.conf import settings

RENDERING_LIBRARIES = ("weasyprint", "pypdfium2", "zxingcpp")


def test_web_processes_do_not_load_the_rendering_libraries():
    """Serving the admin, the dashboard and the API never renders a piece: the URL conf (every view, admin and
    serializer) loads without WeasyPrint and the PDF libraries, which only the workers that render need."""
    probe = ("import sys, django; django.setup(); import mobul.urls, mobul.wsgi; "
             f"print(','.join(name for name in {RENDERING_LIBRARIES!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE},
                            cwd=settings.BASE_DIR)
    assert result.stdout.strip() == ""
