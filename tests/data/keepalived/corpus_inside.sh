#!/bin/bash
# Runs inside the UML VM (see record_corpus.sh): each config in its own netns with dummy
# eth0..eth3 (192.168.200.1/24 on eth0, 192.168.201.1/24 on eth1); keepalived -t, then a real
# start, its log, and a DATA and a JSON dump.
#   SET=corpus  (default) tests/data/keepalived/corpus/*.conf → corpus-oracle/; eth0 also holds
#               2001:db8::1/64
#   SET=samples keepalived's own samples, as the keepalived package installed them
#               (/usr/share/doc/keepalived/samples/keepalived.conf.*, a gzipped one
#               decompressed first) and lvstop's features/main.conf → samples-oracle/; the
#               VLAN eth0.1 the samples name, and the netns "high" for the one that asks for it
top=$1; run=$2
set_name=${SET:-corpus}
if [ "$set_name" = samples ]; then
    out=$top/tests/data/keepalived/samples-oracle
    mkdir -p $out $run/samples
    for f in /usr/share/doc/keepalived/samples/keepalived.conf.*; do
        case $f in
            *.gz) zcat $f > $run/samples/$(basename $f .gz);;
            *) cp $f $run/samples/;;
        esac
    done
    # which package's samples were recorded: the host tests check they are the installed ones
    (cd $run/samples && sha256sum keepalived.conf.*) > $out/samples.sha256
    configs="$run/samples/keepalived.conf.* $top/tests/data/keepalived/features/main.conf"
else
    out=$top/tests/data/keepalived/corpus-oracle
    mkdir -p $out
    configs="$top/tests/data/keepalived/corpus/*.conf"
fi
# wait_for CONDITION SECONDS: poll a shell function until it holds (or keepalived exited)
wait_for() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        $1 && return 0
        kill -0 $kpid 2>/dev/null || return 1
        sleep 0.1
    done
    echo "$name: timed out waiting for $1" >&2
    return 1
}
loaded() {
    # as the lab test judges it: the VRRP child has put an instance in its first state, the
    # checker child has judged a quorum (one "Startup complete" covers both children)
    grep -sq "Startup complete" $run/$name.log || return 1
    if grep -sq "Starting VRRP child" $run/$name.log; then
        grep -sqiE "entering (MASTER|BACKUP|FAULT)" $run/$name.log || return 1
    fi
    if grep -sq "Starting Healthcheck child" $run/$name.log; then
        grep -sqE "quorum|Activating healthchecker" $run/$name.log || return 1
    fi
}
# a dump is complete once its file is there and its size held still for one poll
last_sizes=""
stable() {
    local sizes="" f
    for f in "$@"; do
        [ -s $f ] || return 1
        sizes="$sizes $(stat -c %s $f)"
    done
    [ "$sizes" = "$last_sizes" ] && return 0
    last_sizes=$sizes
    return 1
}
dumped() {
    local files=""
    grep -sq "Starting VRRP child" $run/$name.log && files="$files /tmp/keepalived.data"
    grep -sq "Starting Healthcheck child" $run/$name.log && files="$files /tmp/keepalived_check.data"
    stable $files
}
json_dumped() {
    ! grep -sq "Starting VRRP child" $run/$name.log || stable /tmp/keepalived.json
}
data_sig=$(keepalived --signum=DATA)
json_sig=$(keepalived --signum=JSON)
echo "DATA=$data_sig JSON=$json_sig" > $out/signums.txt
keepalived --version > $out/version.txt 2>&1
for f in $configs; do
    if [ "$set_name" = samples ]; then
        name=$(basename $f)
        case $f in */features/*) name=features.$name;; esac
    else
        name=$(basename $f .conf)
    fi
    # ONLY="89 90": record just those (the others keep their recordings)
    if [ -n "${ONLY:-}" ] && ! [[ " $ONLY " == *" ${name%%-*} "* ]]; then continue; fi
    ns=ka$RANDOM
    # a config that names its own namespace (net_namespace high) gets exactly that one
    grep -q "net_namespace high" $f && ns=high
    ip netns add $ns
    ip -n $ns link set lo up
    for dev in eth0 eth1 eth2 eth3; do
        ip -n $ns link add $dev type dummy && ip -n $ns link set $dev multicast on up
    done
    ip -n $ns addr add 192.168.200.1/24 dev eth0
    ip -n $ns addr add 192.168.201.1/24 dev eth1
    if [ "$set_name" = samples ]; then
        ip -n $ns link add link eth0 name eth0.1 type vlan id 1
        ip -n $ns link set eth0.1 multicast on up
    else
        ip -n $ns addr add 2001:db8::1/64 dev eth0 nodad
    fi
    rm -f $out/$name.check.txt $out/$name.log $out/$name.keepalived.data \
        $out/$name.keepalived_check.data $out/$name.keepalived.json
    ip netns exec $ns keepalived -t -f $f -i high > $out/$name.check.txt 2>&1
    echo "rc=$?" >> $out/$name.check.txt
    rm -f /tmp/keepalived*.data /tmp/keepalived.json
    ip netns exec $ns keepalived -n -l -D -f $f -i high -p /run/$ns.pid -r /run/$ns.vrrp.pid \
        -c /run/$ns.check.pid > $run/$name.log 2>&1 &
    kpid=$!
    # signal only once keepalived's children are up (a child signalled before it installed its
    # handlers dies of the signal), or keepalived gave up
    wait_for loaded 60
    if kill -0 $kpid 2>/dev/null; then
        kill -$data_sig $kpid
        last_sizes=""; wait_for dumped 30
        last_sizes=""; kill -$json_sig $kpid
        wait_for json_dumped 30
    fi
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
