from services.feedback.service import SERVICE
from shared.runner import main

main(SERVICE)
