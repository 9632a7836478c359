from services.hq.service import SERVICE
from shared.runner import main

main(SERVICE)
