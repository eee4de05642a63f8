"""Pages of the appointments app, one module per area (appointments, booking, schedule, calendar)."""
