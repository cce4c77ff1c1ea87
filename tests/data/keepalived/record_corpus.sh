#!/bin/bash
# Record keepalived 2.2.7's own view of every corpus config (tests/data/keepalived/corpus/*.conf),
# or with SET=samples of keepalived's own sample configs (from the installed package):
# its `keepalived -t` output, its log while it loads the config and its data / JSON dumps, inside
# a throw-away User-Mode Linux VM (never on the host network). tests/unit/
# test_keepalived_corpus_oracle.py replays the recordings (corpus-oracle/, samples-oracle/);
# tests/lab/test_keepalived_corpus_lab.py runs the same live.   Usage (root, from the checkout):
#   tests/data/keepalived/record_corpus.sh            (all; ONLY="89 90" ...: just those)
#   SET=samples tests/data/keepalived/record_corpus.sh
set -eu
cd "$(dirname "$0")/../../.."
top=$(pwd)
mkdir -p "$top/.lab"
run=$(mktemp -d "$top/.lab/corpus.XXXXXX")
cat > "$run/init.sh" <<INIT
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mkdir -p /run/netns
mkdir -p /tmp/mr/lib/modules
ln -s /usr/lib/uml/modules/\$(uname -r) /tmp/mr/lib/modules/\$(uname -r)
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc ip_vs_lc ip_vs_sh dummy 8021q macvlan; do modprobe -d /tmp/mr \$m; done
ip link set lo up
SET="${SET:-corpus}" ONLY="${ONLY:-}" bash $top/tests/data/keepalived/corpus_inside.sh $top $run > $run/inside.log 2>&1
echo \$? > $run/status
poweroff -f
INIT
chmod +x "$run/init.sh"
timeout 1800 linux.uml mem=512M root=/dev/root rootfstype=hostfs rootflags=/ rw \
    init="$run/init.sh" con=null con0=fd:0,fd:1 quiet < /dev/null > "$run/console.log" 2>&1 || true
echo "status: $(cat "$run/status" 2>/dev/null || echo none)  (log: $run/inside.log)"
