"""The staff console: web pages for the lobby, the reception desk, complaints, follow-ups,
satisfaction and HQ. A backend-for-frontend: the browser talks only to the console, the console
calls the services' public APIs with the signed-in staff member's own token."""
