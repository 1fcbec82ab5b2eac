#!/usr/bin/env bash
# Optional step, for GigE Vision cameras: the kernel's socket buffer ceiling and jumbo frames on
# the camera's network interface. aravis asks for a receive buffer of one frame per stream and the
# kernel caps it at net.core.rmem_max (212992 bytes by default: a fraction of one frame, so
# packets are lost under load); jumbo frames (MTU 9000, packets of ~8 KiB) need a sixth of the
# packets per frame that 1500-byte ones do, and with them a sixth of the per-packet kernel work.
#
#   sudo deploy/jetson/gige-network.sh IFACE [--mtu N]
#
#   IFACE     the interface the cameras are on (ip link lists them), e.g. eth1
#   --mtu N   default 9000; the camera's packet size (packetSizeBytes, or aravis' negotiation)
#             must fit in it, and so must every switch port between them
set -euo pipefail
iface=
mtu=9000
# 64 MiB: a 20 MP RGB8 frame; Mono8 and Bayer need a third of that.
rmem_max=67108864
sysctl_file=/etc/sysctl.d/60-linewatch-gige.conf
die() { echo "gige-network: $*" >&2; exit 1; }
say() { echo "gige-network: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --mtu) mtu=${2:?--mtu needs a number}; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) die "unknown argument '$1' (see --help)" ;;
    *) iface=$1; shift ;;
  esac
done
[ -n "$iface" ] || die "name the cameras' interface (see --help)"
if ! [[ $mtu =~ ^[0-9]+$ ]] || [ "$mtu" -lt 1500 ]; then die "--mtu $mtu: a number of bytes, at least 1500"; fi
[ "$(id -u)" = 0 ] || die "run as root (sudo): it writes $sysctl_file and sets the MTU"
[ -d "/sys/class/net/$iface" ] || die "no interface $iface (ip link lists them)"
max=$(ip -d link show "$iface" | sed -n 's/.* maxmtu \([0-9]*\).*/\1/p')
if [ -n "$max" ] && [ "$mtu" -gt "$max" ]; then
  die "$iface takes at most MTU $max (its driver says so); run with --mtu $max"
fi

cat >"$sysctl_file" <<CONF
# Written by linewatch's deploy/jetson/gige-network.sh: aravis asks for a receive buffer of one
# frame per GigE Vision stream; the kernel caps it at rmem_max.
net.core.rmem_max = $rmem_max
CONF
sysctl -q -p "$sysctl_file"
say "net.core.rmem_max = $(sysctl -n net.core.rmem_max) ($sysctl_file, kept across reboots)"

# NetworkManager (JetPack's default) keeps the MTU in the connection; elsewhere set it now and say
# how to keep it.
conn=
if command -v nmcli >/dev/null; then
  conn=$(nmcli -g GENERAL.CONNECTION device show "$iface" 2>/dev/null || true)
fi
if [ -n "$conn" ]; then
  nmcli connection modify "$conn" 802-3-ethernet.mtu "$mtu"
  nmcli connection up "$conn" >/dev/null
  say "$iface MTU $(cat "/sys/class/net/$iface/mtu") (NetworkManager connection '$conn', kept across reboots)"
else
  ip link set dev "$iface" mtu "$mtu"
  say "$iface MTU $(cat "/sys/class/net/$iface/mtu") until reboot: $iface is not managed by NetworkManager; set mtu: $mtu for it in /etc/netplan to keep it"
fi
