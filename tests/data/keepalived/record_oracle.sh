#!/bin/bash
# Record keepalived 2.2.7's own view of every sample config (its data dumps and `-t` output),
# inside a throw-away User-Mode Linux VM (never on the host network). The recordings in
# tests/data/keepalived/oracle/ are what tests/unit/test_keepalived_conf_oracle.py compares
# lvstop's parser with.   Usage (root, from the checkout): tests/data/keepalived/record_oracle.sh
set -eu
cd "$(dirname "$0")/../../.."
top=$(pwd)
run=$(mktemp -d "$top/.lab/oracle.XXXXXX")
cat > "$run/init.sh" <<INIT
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mkdir -p /run/netns
mkdir -p /tmp/mr/lib/modules
ln -s /usr/lib/uml/modules/\$(uname -r) /tmp/mr/lib/modules/\$(uname -r)
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc dummy 8021q; do modprobe -d /tmp/mr \$m; done
ip link set lo up
bash $top/tests/data/keepalived/oracle_inside.sh $top $run > $run/inside.log 2>&1
echo \$? > $run/status
poweroff -f
INIT
chmod +x "$run/init.sh"
timeout 300 linux.uml mem=512M root=/dev/root rootfstype=hostfs rootflags=/ rw \
    init="$run/init.sh" con=null con0=fd:0,fd:1 quiet < /dev/null > "$run/console.log" 2>&1 || true
echo "status: $(cat "$run/status" 2>/dev/null || echo none)  (log: $run/inside.log)"
