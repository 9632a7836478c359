from services.followup.service import SERVICE
from shared.runner import main

main(SERVICE)
