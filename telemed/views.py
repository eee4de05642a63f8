from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

# Shown if even errors/500.html cannot render (a missing static manifest, a broken template):
# an error page must never raise.
_FALLBACK_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error</title></head>'
    "<body><main><h1>Something went wrong on our side</h1>"
    '<p><a href="/">Go to the home page</a></p></main></body></html>'
)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def _render_minimal(template_name: str) -> str:
    # No request, so no context processors: they would read the session and the user from
    # the database, which may be what just failed.
    return loader.render_to_string(template_name, {"CLINIC_NAME": settings.CLINIC_NAME})


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return HttpResponseBadRequest(_render_minimal("errors/400.html"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: Django's own page has inline styles, which the CSP refuses."""
    return render(request, "errors/403.html", {"csrf_failure": True}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        body = _render_minimal("errors/500.html")
    except Exception:  # see _FALLBACK_500
        body = _FALLBACK_500
    return HttpResponseServerError(body)
