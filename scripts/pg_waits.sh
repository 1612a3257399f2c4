#!/bin/bash
# What PostgreSQL waits on while N `seen serve` nodes share one database (issue 20's scale model): 4 curl
# clients post the bodies in BODIES (JSON arrays of events, e.g. 1 000 demo events each), spread over the
# nodes, while pg_stat_activity is sampled every 50 ms. Usage: scripts/pg_waits.sh SEEN NODES BODIES
# (needs curl, psql, and PostgreSQL at 127.0.0.1:5432 with trust auth; drops and creates database seen_wait).
set -e
SEEN=${1:?path to seen}; NODES=${2:-2}; BODIES=${3:?folder of JSON bodies}
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS seen_wait WITH (FORCE)" -c "CREATE DATABASE seen_wait"
URL=postgres://postgres@127.0.0.1:5432/seen_wait
KEY=$($SEEN --db $URL keys create bench | tail -1)
PIDS=(); ADDRS=()
for n in $(seq 1 $NODES); do
  SEEN_LOG=warn $SEEN --db $URL serve --listen 127.0.0.1:0 > /tmp/node$n.out 2>/dev/null & PIDS+=($!)
done
sleep 2
for n in $(seq 1 $NODES); do ADDRS+=($(head -1 /tmp/node$n.out | awk '{print $NF}')); done
( while true; do psql -At -h 127.0.0.1 -U postgres -d seen_wait -c "select coalesce(wait_event_type,'CPU')||':'||coalesce(wait_event,'-')||' '||left(regexp_replace(query,'\s+',' ','g'),60) from pg_stat_activity where datname='seen_wait' and state='active' and pid<>pg_backend_pid()" ; sleep 0.05; done ) > /tmp/pgwait.txt 2>/dev/null & SAMPLER=$!
start=$(date +%s.%N)
CL=()
for w in 0 1 2 3; do
  ( i=0; for f in $BODIES/*.json; do if [ $((i % 4)) -eq $w ]; then curl -s -o /dev/null -H "authorization: Bearer $KEY" -H 'content-type: application/json' --data-binary @$f ${ADDRS[$((w % NODES))]}/v1/events; fi; i=$((i+1)); done ) & CL+=($!)
done
wait ${CL[@]}
end=$(date +%s.%N)
kill $SAMPLER; kill ${PIDS[@]}; wait 2>/dev/null || true
EVENTS=$(cat "$BODIES"/*.json | grep -o '"type":' | wc -l)
echo "events/s: $(python3 -c "print(round($EVENTS / ($end - $start)))")"
sort /tmp/pgwait.txt | uniq -c | sort -rn | head -15
