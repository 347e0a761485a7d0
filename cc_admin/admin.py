"""Admin registrations (see issue 2)."""
