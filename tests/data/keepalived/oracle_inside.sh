#!/bin/bash
# Runs inside the UML VM (see record_oracle.sh): each sample in its own netns with the
# interfaces it names as dummy devices; keepalived -t, then a real start and a DATA dump.
top=$1; run=$2
out=$top/tests/data/keepalived/oracle
data_sig=$(keepalived --signum=DATA)
json_sig=$(keepalived --signum=JSON)
echo "DATA=$data_sig JSON=$json_sig" > $out/signums.txt
for f in $top/tests/data/keepalived/samples/* $top/tests/data/keepalived/features/main.conf; do
    name=$(basename $f)
    case $f in */features/*) name=features.$name;; esac
    ns=ka$RANDOM
    # a config that names its own namespace (net_namespace high) gets exactly that one
    grep -q "net_namespace high" $f && ns=high
    ip netns add $ns
    ip -n $ns link set lo up
    for dev in eth0 eth1 eth2 eth3; do
        ip -n $ns link add $dev type dummy && ip -n $ns link set $dev multicast on up
    done
    ip -n $ns link add link eth0 name eth0.1 type vlan id 1 && ip -n $ns link set eth0.1 multicast on up
    ip -n $ns addr add 192.168.200.1/24 dev eth0
    ip -n $ns addr add 192.168.201.1/24 dev eth1
    cid=high
    ip netns exec $ns keepalived -t -f $f -i $cid > $out/$name.check.txt 2>&1
    echo "rc=$?" >> $out/$name.check.txt
    rm -f /tmp/keepalived*.data /tmp/keepalived.json
    ip netns exec $ns keepalived -n -l -D -f $f -i $cid -p /run/$ns.pid -r /run/$ns.vrrp.pid \
        -c /run/$ns.check.pid > $run/$name.log 2>&1 &
    kpid=$!
    sleep 3
    kill -$data_sig $kpid
    sleep 1
    kill -$json_sig $kpid
    sleep 1
    for d in /tmp/keepalived.data /tmp/keepalived_check.data /tmp/keepalived.json; do
        [ -f $d ] && cp $d $out/$name.$(basename $d)
    done
    ls -la /tmp > $run/$name.tmp.txt
    kill $kpid; for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $kpid 2>/dev/null || break; sleep 0.5; done
    kill -9 $kpid 2>/dev/null
    ip netns del $ns
done
exit 0
