"""``python -m services.console`` runs the staff console (default port 8080)."""

from services.console.app import main

main()
