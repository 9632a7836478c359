"""One module per page (router)."""
