"""python -m services.notify: run the notify service until SIGINT/SIGTERM."""
from services.notify.app import build_service
from services.notify.config import Settings

if __name__ == "__main__":
    build_service(Settings()).run()
