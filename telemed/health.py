"""Liveness and readiness probes."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    from telemed.readiness import check_all, last_heartbeat

    results = check_all()
    ok = all(r["ok"] for r in results.values())
    failed = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {
            "status": "ok" if ok else "fail",
            "failed": failed,
            "checks": results,
            # Information, not a check: the worker may run on another host or not yet have beaten.
            "celery_heartbeat": last_heartbeat(),
        },
        status=200 if ok else 503,
    )
