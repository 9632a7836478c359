from services.complaint.service import SERVICE
from shared.runner import main

main(SERVICE)
