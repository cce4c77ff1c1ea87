#!/bin/bash
# Runs inside the UML VM (see record_corpus.sh): each corpus config in its own netns with
# dummy eth0..eth3 (192.168.200.1/24 on eth0, 192.168.201.1/24 and 2001:db8::1/64 on eth1);
# keepalived -t, then a real start, its log, and a DATA and a JSON dump.
top=$1; run=$2
out=$top/tests/data/keepalived/corpus-oracle
mkdir -p $out
data_sig=$(keepalived --signum=DATA)
json_sig=$(keepalived --signum=JSON)
echo "DATA=$data_sig JSON=$json_sig" > $out/signums.txt
keepalived --version > $out/version.txt 2>&1
for f in $top/tests/data/keepalived/corpus/*.conf; do
    name=$(basename $f .conf)
    # ONLY="89 90": record just those (the others keep their recordings)
    if [ -n "${ONLY:-}" ] && ! [[ " $ONLY " == *" ${name%%-*} "* ]]; then continue; fi
    ns=ka$RANDOM
    ip netns add $ns
    ip -n $ns link set lo up
    for dev in eth0 eth1 eth2 eth3; do
        ip -n $ns link add $dev type dummy && ip -n $ns link set $dev multicast on up
    done
    ip -n $ns addr add 192.168.200.1/24 dev eth0
    ip -n $ns addr add 192.168.201.1/24 dev eth1
    ip -n $ns addr add 2001:db8::1/64 dev eth0 nodad
    rm -f $out/$name.*
    ip netns exec $ns keepalived -t -f $f -i high > $out/$name.check.txt 2>&1
    echo "rc=$?" >> $out/$name.check.txt
    rm -f /tmp/keepalived*.data /tmp/keepalived.json
    ip netns exec $ns keepalived -n -l -D -f $f -i high -p /run/$ns.pid -r /run/$ns.vrrp.pid \
        -c /run/$ns.check.pid > $run/$name.log 2>&1 &
    kpid=$!
    sleep 2
    kill -$data_sig $kpid 2>/dev/null
    sleep 1
    kill -$json_sig $kpid 2>/dev/null
    sleep 1
    for d in /tmp/keepalived.data /tmp/keepalived_check.data /tmp/keepalived.json; do
        [ -f $d ] && cp $d $out/$name.$(basename $d)
    done
    kill $kpid 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $kpid 2>/dev/null || break; sleep 0.5; done
    kill -9 $kpid 2>/dev/null
    wait $kpid 2>/dev/null
    # the log without the time stamps keepalived puts first
    sed -E 's/^[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [0-9]{4}: //' $run/$name.log > $out/$name.log
    ip netns del $ns
done
exit 0
