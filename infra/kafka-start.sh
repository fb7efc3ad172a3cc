#!/bin/bash
# docker compose: Kafka 4 (KRaft) with SASL on both listeners and the StandardAuthorizer, as
# scripts/infra.py --profile secure runs it without Docker. Clients authenticate with
# SCRAM-SHA-512 users (one per service, `exchange` for the enrollment feed, `admin`, the
# only super user besides the controller's own); the controller listener takes SASL PLAIN
# (KRaft controllers cannot read SCRAM users). The SCRAM users are written into the cluster
# metadata when the storage is formatted, at the first start; ACLs are created by the
# `kafka-setup` job (python scripts/infra.py kafka-setup). Passwords come from the
# environment (see docker-compose.yml).
set -euo pipefail
umask 077
conf=/tmp/kafka
mkdir -p "$conf"
cat > "$conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=SASL_PLAINTEXT://kafka:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${KAFKA_CONTROLLER_PASSWORD}" user_controller="${KAFKA_CONTROLLER_PASSWORD}";
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
num.partitions=6
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
# The healthcheck's client settings (admin).
cat > "$conf/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPS
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
    users=()
    for user in admin exchange identity billing payments notify gateway; do
        var="KAFKA_$(echo "$user" | tr '[:lower:]' '[:upper:]')_PASSWORD"
        users+=(--add-scram "SCRAM-SHA-512=[name=${user},password=${!var:?$var is not set}]")
    done
    /opt/kafka/bin/kafka-storage.sh format -t "${CLUSTER_ID:?}" -c "$conf/server.properties" "${users[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf/server.properties"
