"""Models of the media_relay app (see ../shared/ARCHITECTURE.md "Layout")."""
