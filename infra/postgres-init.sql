-- One database per service (docker compose; scripts/infra.py does the same without Docker).
CREATE DATABASE identity;
CREATE DATABASE billing;
CREATE DATABASE payments;
CREATE DATABASE notify;
CREATE DATABASE gateway;
