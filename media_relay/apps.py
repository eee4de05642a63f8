from django.apps import AppConfig


class MediaRelayConfig(AppConfig):
    name = "media_relay"
    verbose_name = "Video consultations"
