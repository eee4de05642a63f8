import httpx
import pytest


@pytest.mark.django_db
def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_live_server_serves_healthz_over_asgi(live_asgi):
    response = httpx.get(f"{live_asgi.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"]
