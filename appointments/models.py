"""Models of the appointments app (see ../shared/ARCHITECTURE.md "Layout")."""
