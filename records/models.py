"""Models of the records app (see ../shared/ARCHITECTURE.md "Layout")."""
