"""python -m services.identity: run the identity service until SIGINT/SIGTERM."""
from services.identity.app import build_service
from services.identity.config import Settings

if __name__ == "__main__":
    build_service(Settings()).run()
