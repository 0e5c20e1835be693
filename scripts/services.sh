#!/usr/bin/env bash
# Makes sure the services the distributed adapters' tests talk to answer on loopback:
# PostgreSQL (5432), NATS with JetStream (4222) and Redis (6379). Starts any that does not
# answer with the machine's own service commands, then waits (bounded) until each answers.
set -u

answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

start_postgres() {
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  else
    echo "services: no PostgreSQL installation found to start" >&2
  fi
}
start_nats() {
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}
start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

status=0
for entry in postgres:5432 nats:4222 redis:6379; do
  name=${entry%%:*}; port=${entry##*:}
  if answers "$port"; then echo "services: $name answers on $port"; continue; fi
  echo "services: $name does not answer on $port; starting it"
  "start_$name" || echo "services: starting $name failed" >&2
  for _ in $(seq 1 60); do answers "$port" && break; sleep 0.5; done
  if answers "$port"; then echo "services: $name is up"; else echo "services: $name still does not answer on $port" >&2; status=1; fi
done
exit $status
