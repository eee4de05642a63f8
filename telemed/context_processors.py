from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    return {"CLINIC_NAME": settings.CLINIC_NAME}
