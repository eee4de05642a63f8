"""Models of the prescriptions app (see ../shared/ARCHITECTURE.md "Layout")."""
