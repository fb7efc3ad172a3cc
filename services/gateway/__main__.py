"""python -m services.gateway: run the gateway and portal until SIGINT/SIGTERM."""
from services.gateway.app import run
from services.gateway.config import Settings

if __name__ == "__main__":
    run(Settings())
