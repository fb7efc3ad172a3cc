"""python -m services.payments: run the payments service until SIGINT/SIGTERM."""
from services.payments.app import build_service
from services.payments.config import Settings

if __name__ == "__main__":
    build_service(Settings()).run()
