from services.reception.service import SERVICE
from shared.runner import main

main(SERVICE)
