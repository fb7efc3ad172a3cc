"""python -m services.billing: run the billing service until SIGINT/SIGTERM."""
from services.billing.app import build_service
from services.billing.config import Settings

if __name__ == "__main__":
    build_service(Settings()).run()
