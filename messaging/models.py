"""Models of the messaging app (see ../shared/ARCHITECTURE.md "Layout")."""
