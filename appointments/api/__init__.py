"""The appointments REST API for mobile clients (slots, booking, the lifecycle, the waitlist)."""
