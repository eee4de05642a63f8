"""Models of the audit app (see ../shared/ARCHITECTURE.md "Layout")."""
